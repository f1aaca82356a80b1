package httpapi

import (
	"errors"
	"net/http"
	"net/mail"
	"net/url"
	"strings"
	"time"

	"github.com/tokenkeeper/tokenkeeper"
)

// linkBody is the JSON body of POST /v1/connections.
type linkBody struct {
	UserID                string   `json:"user_id"`
	Provider              string   `json:"provider"`
	AccountID             string   `json:"account_id"`
	AccessToken           string   `json:"access_token"`
	RefreshToken          string   `json:"refresh_token"`
	ExpiresAt             string   `json:"expires_at"`
	ExpiresIn             *int64   `json:"expires_in"`
	RefreshTokenExpiresAt string   `json:"refresh_token_expires_at"`
	Scopes                []string `json:"scopes"`
	UserEmail             string   `json:"user_email"`
}

// refreshBody is the optional JSON body of POST /v1/connections/{id}/refresh.
type refreshBody struct {
	RejectedAccessToken string `json:"rejected_access_token"`
}

// handleLink answers POST /v1/connections: 201 with the new connection, or
// 200 when an existing (user, provider, account) was re-linked.
func (s *Server) handleLink(w http.ResponseWriter, r *http.Request) error {
	data, err := readBody(w, r, s.cfg.MaxBodyBytes)
	if err != nil {
		return err
	}
	var b linkBody
	if err := decodeJSON(data, &b); err != nil {
		return err
	}
	req, err := s.linkRequest(&b)
	if err != nil {
		return err
	}
	c, created, err := s.cfg.Keeper.Link(r.Context(), req)
	if err != nil {
		return err
	}
	status := http.StatusOK
	if created {
		status = http.StatusCreated
		// The id is the keeper's, never the caller's; still, nothing that
		// is not an id reaches a header.
		if tokenkeeper.ValidID(c.ID) {
			w.Header().Set("Location", "/v1/connections/"+url.PathEscape(c.ID))
		}
	}
	s.writeJSON(w, status, viewConnection(c))
	return nil
}

// linkRequest validates a link body: required fields, ids, a known provider,
// times and the e-mail address. Messages name the field, never its value
// where the value may be a secret or an e-mail address.
func (s *Server) linkRequest(b *linkBody) (tokenkeeper.LinkRequest, error) {
	var req tokenkeeper.LinkRequest
	switch {
	case b.UserID == "":
		return req, invalid("user_id is required")
	case b.Provider == "":
		return req, invalid("provider is required")
	case b.AccessToken == "":
		return req, invalid("access_token is required")
	}
	if err := checkID("user_id", b.UserID); err != nil {
		return req, err
	}
	if err := s.knownProvider(b.Provider); err != nil {
		return req, err
	}
	if b.AccountID != "" {
		if err := checkID("account_id", b.AccountID); err != nil {
			return req, err
		}
	}
	for _, sc := range b.Scopes {
		if sc == "" {
			return req, invalid("scopes must not hold an empty string")
		}
		if len(sc) > maxScopeLen || strings.ContainsFunc(sc, isControl) {
			return req, invalid("scopes must be at most %d bytes without control characters", maxScopeLen)
		}
	}
	if b.UserEmail != "" {
		if a, err := mail.ParseAddress(b.UserEmail); err != nil || a.Address != b.UserEmail {
			return req, invalid("user_email must be a plain e-mail address (name@example.com)")
		}
	}
	req = tokenkeeper.LinkRequest{
		UserID:       b.UserID,
		Provider:     b.Provider,
		AccountID:    b.AccountID,
		Scopes:       b.Scopes,
		AccessToken:  tokenkeeper.Secret(b.AccessToken),
		RefreshToken: tokenkeeper.Secret(b.RefreshToken),
		UserEmail:    b.UserEmail,
	}
	var err error
	if b.ExpiresAt != "" && b.ExpiresIn != nil {
		return req, invalid("give expires_at or expires_in, not both")
	}
	if req.ExpiresAt, err = parseTime("expires_at", b.ExpiresAt); err != nil {
		return req, err
	}
	if b.ExpiresIn != nil {
		if *b.ExpiresIn < 0 || *b.ExpiresIn > int64(maxDuration/time.Second) {
			return req, invalid("expires_in must be between 0 and %d seconds", int64(maxDuration/time.Second))
		}
		req.ExpiresIn = time.Duration(*b.ExpiresIn) * time.Second
	}
	if req.RefreshTokenExpiresAt, err = parseTime("refresh_token_expires_at", b.RefreshTokenExpiresAt); err != nil {
		return req, err
	}
	return req, nil
}

// knownProvider answers PROVIDER_UNKNOWN for a provider the catalog lacks.
func (s *Server) knownProvider(name string) error {
	if err := checkID("provider", name); err != nil {
		return err
	}
	if _, ok := s.cfg.Catalog.Provider(name); !ok {
		return tokenkeeper.Errorf(tokenkeeper.CodeProviderUnknown, "unknown provider %q", name)
	}
	return nil
}

// parseTime parses an RFC 3339 time field; "" is the zero time.
func parseTime(field, s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}, invalid("%s must be an RFC 3339 time such as 2026-01-02T15:04:05Z", field)
	}
	return t, nil
}

// handleList answers GET /v1/connections with a page of connections.
func (s *Server) handleList(w http.ResponseWriter, r *http.Request) error {
	f, err := listFilter(r.URL.Query(), s.cfg.Now())
	if err != nil {
		return err
	}
	cs, next, err := s.cfg.Store.ListConnections(r.Context(), f)
	if err != nil {
		return err
	}
	s.writeJSON(w, http.StatusOK, viewConnections(cs, next))
	return nil
}

// handleGet answers GET /v1/connections/{id}.
func (s *Server) handleGet(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id", "connection id")
	if err != nil {
		return err
	}
	c, err := s.cfg.Store.GetConnection(r.Context(), id)
	if err != nil {
		return notFound(err, id)
	}
	s.writeJSON(w, http.StatusOK, viewConnection(c))
	return nil
}

// handleDisconnect answers DELETE /v1/connections/{id} with the
// disconnected connection.
func (s *Server) handleDisconnect(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id", "connection id")
	if err != nil {
		return err
	}
	c, err := s.cfg.Keeper.Disconnect(r.Context(), id)
	if err != nil {
		return notFound(err, id)
	}
	s.writeJSON(w, http.StatusOK, viewConnection(c))
	return nil
}

// handleRefresh answers POST /v1/connections/{id}/refresh with the
// connection after the refresh. A body naming the rejected access token
// makes the trigger "rejected"; no body makes it "manual".
func (s *Server) handleRefresh(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id", "connection id")
	if err != nil {
		return err
	}
	data, err := readBody(w, r, s.cfg.MaxBodyBytes)
	if err != nil {
		return err
	}
	var b refreshBody
	if len(data) > 0 {
		if err := decodeJSON(data, &b); err != nil {
			return err
		}
	}
	trigger := tokenkeeper.TriggerManual
	if b.RejectedAccessToken != "" {
		trigger = tokenkeeper.TriggerRejected
	}
	c, err := s.cfg.Keeper.Refresh(r.Context(), id, trigger, tokenkeeper.Secret(b.RejectedAccessToken))
	if err != nil {
		s.writeErrorWith(w, r, notFound(err, id), errorOptions{connID: id})
		return nil
	}
	s.writeJSON(w, http.StatusOK, viewConnection(c))
	return nil
}

// notFound gives a store's or keeper's ErrNotFound a message that says what
// was not found; other errors pass through.
func notFound(err error, id string) error {
	if errors.Is(err, tokenkeeper.ErrNotFound) {
		return &tokenkeeper.Error{Code: tokenkeeper.CodeAccountNotFound, Message: "connection not found", ConnectionID: id, Err: err}
	}
	return err
}
