package httpapi

import (
	"errors"
	"net/http"

	"github.com/tokenkeeper/tokenkeeper"
)

// handleToken answers GET /v1/connections/{id}/token?min_validity=… with a
// valid access token, refreshed first when needed.
func (s *Server) handleToken(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id", "connection id")
	if err != nil {
		return err
	}
	s.serveToken(w, r, id, nil)
	return nil
}

// handleUserToken answers GET /v1/users/{user_id}/providers/{provider}/token
// ?account_id=…&min_validity=…: the token of the user's connection at the
// provider.
func (s *Server) handleUserToken(w http.ResponseWriter, r *http.Request) error {
	userID, err := pathID(r, "user_id", "user_id")
	if err != nil {
		return err
	}
	provider := r.PathValue("provider")
	if err := s.knownProvider(provider); err != nil {
		return err
	}
	accountID, err := queryID(r.URL.Query(), "account_id")
	if err != nil {
		return err
	}
	// Check the query before the lookup, so a bad request is a 400 whether
	// or not the connection exists.
	if _, err := queryDuration(r.URL.Query(), "min_validity"); err != nil {
		return err
	}
	c, err := s.cfg.Store.FindConnection(r.Context(), userID, provider, accountID)
	if errors.Is(err, tokenkeeper.ErrNotFound) {
		return &tokenkeeper.Error{Code: tokenkeeper.CodeAccountNotFound, Message: "the user has no connection at this provider", Err: err}
	}
	if err != nil {
		return err
	}
	s.serveToken(w, r, c.ID, c)
	return nil
}

// serveToken asks the keeper for connection id's token and answers with it,
// never cached; known is the connection when the caller already has it, for
// the reconnect URL of a NEEDS_REAUTH error.
func (s *Server) serveToken(w http.ResponseWriter, r *http.Request, id string, known *tokenkeeper.Connection) {
	minValidity, err := queryDuration(r.URL.Query(), "min_validity")
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	tok, c, err := s.cfg.Keeper.AccessToken(r.Context(), id, minValidity)
	if err != nil {
		if c == nil {
			c = known
		}
		s.writeErrorWith(w, r, notFound(err, id), errorOptions{conn: c, connID: id})
		return
	}
	if tok == nil || c == nil {
		s.writeError(w, r, errors.New("keeper returned no token and no error"))
		return
	}
	w.Header().Set("Pragma", "no-cache")
	s.writeJSON(w, http.StatusOK, viewToken(tok, c, s.cfg.Now()))
}
