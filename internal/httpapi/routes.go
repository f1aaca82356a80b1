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
	adminScopes = []tokenkeeper.Scope{tokenkeeper.ScopeAdmin}
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

	// Sweeps.
	mux.Handle("POST /v1/sweeps", s.authed(s.handleSweep, adminScopes...))

	// Notifications (notifications.go): in-app notifications, users'
	// preferences, and the deliveries of the outbox.
	mux.Handle("GET /v1/users/{user_id}/notifications", s.authed(s.handleListNotifications, readScopes...))
	mux.Handle("POST /v1/notifications/{id}/read", s.authed(s.handleReadNotification, writeScopes...))
	mux.Handle("PUT /v1/users/{user_id}/preferences", s.authed(s.handlePutPreferences, writeScopes...))
	mux.Handle("GET /v1/deliveries", s.authed(s.handleListDeliveries, adminScopes...))
	mux.Handle("POST /v1/deliveries/{id}/retry", s.authed(s.handleRetryDelivery, adminScopes...))

	// Connect flow (internal/connect), when configured: the application
	// starts it with an API key, a user's browser with a reconnect link
	// (?link=, no key); the provider sends the browser back to the callback.
	if c := s.cfg.Connect; c != nil {
		start := s.authed(c.Start, writeScopes...)
		mux.Handle("GET /v1/connect/{provider}", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Query().Has("link") {
				c.Reconnect(w, r)
				return
			}
			start.ServeHTTP(w, r)
		}))
		mux.Handle("GET /v1/oauth/callback", http.HandlerFunc(c.Callback))
	}
}
