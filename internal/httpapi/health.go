package httpapi

import (
	"context"
	"net/http"
	"time"

	"github.com/tokenkeeper/tokenkeeper"
	"github.com/tokenkeeper/tokenkeeper/docs/api"
)

// readyTimeout bounds one readiness check.
const readyTimeout = 5 * time.Second

// handleHealthz answers GET /healthz: the process serves requests.
func (s *Server) handleHealthz(w http.ResponseWriter, r *http.Request) error {
	s.writeJSON(w, http.StatusOK, healthView{Status: "ok", Version: s.cfg.Version})
	return nil
}

// handleReadyz answers GET /readyz: 200 when Config.Ready passes, 503
// UNAVAILABLE otherwise. The cause is logged, not shown: it may name the
// database's address.
func (s *Server) handleReadyz(w http.ResponseWriter, r *http.Request) error {
	ctx, cancel := context.WithTimeout(r.Context(), readyTimeout)
	defer cancel()
	if err := s.cfg.Ready(ctx); err != nil {
		return &tokenkeeper.Error{Code: tokenkeeper.CodeUnavailable, Message: "not ready", Err: err}
	}
	s.writeJSON(w, http.StatusOK, healthView{Status: "ok", Version: s.cfg.Version})
	return nil
}

// handleOpenAPI answers GET /v1/openapi.json with the API's OpenAPI document.
func (s *Server) handleOpenAPI(w http.ResponseWriter, r *http.Request) error {
	b, err := api.JSON()
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(b)
	return nil
}
