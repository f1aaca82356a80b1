package httpapi

import (
	"net/http"

	"github.com/tokenkeeper/tokenkeeper"
)

// Scope sets of the routes.
var (
	readScopes  = []tokenkeeper.Scope{tokenkeeper.ScopeTokensRead, tokenkeeper.ScopeConnectionsWrite}
	tokenScopes = []tokenkeeper.Scope{tokenkeeper.ScopeTokensRead}
	writeScopes = []tokenkeeper.Scope{tokenkeeper.ScopeConnectionsWrite}
)

// routes registers every route of the API on mux. A route that needs an API
// key is wrapped in s.authed with the scopes that allow it (admin allows all);
// s.public routes need none. Unknown paths and methods are answered by
// dispatch. docs/api/openapi.yaml describes each route; keep them in step.
func (s *Server) routes(mux *http.ServeMux) {
	// Operations.
	mux.Handle("GET /healthz", s.public(s.handleHealthz))
	mux.Handle("GET /readyz", s.public(s.handleReadyz))
	mux.Handle("GET /v1/openapi.json", s.public(s.handleOpenAPI))

	// Connections.
	mux.Handle("POST /v1/connections", s.authed(s.handleLink, writeScopes...))
	mux.Handle("GET /v1/connections", s.authed(s.handleList, readScopes...))
	mux.Handle("GET /v1/connections/{id}", s.authed(s.handleGet, readScopes...))
	mux.Handle("DELETE /v1/connections/{id}", s.authed(s.handleDisconnect, writeScopes...))
	mux.Handle("POST /v1/connections/{id}/refresh", s.authed(s.handleRefresh, writeScopes...))

	// Tokens.
	mux.Handle("GET /v1/connections/{id}/token", s.authed(s.handleToken, tokenScopes...))
	mux.Handle("GET /v1/users/{user_id}/providers/{provider}/token", s.authed(s.handleUserToken, tokenScopes...))
}
