package client

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Connection is one user's link to one provider account, as the API shows
// it: status, counters, expiry; never its tokens. Times are zero when unset.
type Connection struct {
	ID                           string     `json:"id"`
	UserID                       string     `json:"user_id"`
	Provider                     string     `json:"provider"`
	AccountID                    string     `json:"account_id"`
	Scopes                       []string   `json:"scopes"`
	Status                       string     `json:"status"` // connected, needs_reauth, expired, error, disconnected
	HasRefreshToken              bool       `json:"has_refresh_token"`
	ExpiresAt                    time.Time  `json:"expires_at"`
	RefreshTokenExpiresAt        time.Time  `json:"refresh_token_expires_at"`
	ConsecutiveFailures          int        `json:"consecutive_failures"`
	ConsecutiveTransientFailures int        `json:"consecutive_transient_failures"`
	LastRefreshedAt              time.Time  `json:"last_refreshed_at"`
	LastError                    *LastError `json:"last_error"`
	NextRefreshAt                time.Time  `json:"next_refresh_at"`
	Version                      int64      `json:"version"`
	CreatedAt                    time.Time  `json:"created_at"`
	UpdatedAt                    time.Time  `json:"updated_at"`
}

// LastError is a connection's most recent refresh failure.
type LastError struct {
	Class      string    `json:"class"` // transient, permanent, revoked, config
	Code       string    `json:"code"`
	HTTPStatus int       `json:"http_status"`
	Message    string    `json:"message"`
	At         time.Time `json:"at"`
}

// LinkRequest links (or re-links) a user's account with tokens the
// application obtained. UserID, Provider and AccessToken are required.
type LinkRequest struct {
	UserID       string
	Provider     string
	AccountID    string
	AccessToken  string
	RefreshToken string
	// ExpiresAt, or ExpiresIn counted from the request; give at most one.
	ExpiresAt             time.Time
	ExpiresIn             time.Duration
	RefreshTokenExpiresAt time.Time
	Scopes                []string
	// UserEmail, when set, is where tokenkeeper e-mails the user when they
	// must reconnect.
	UserEmail string
}

// linkBody is LinkRequest as JSON.
type linkBody struct {
	UserID                string   `json:"user_id"`
	Provider              string   `json:"provider"`
	AccountID             string   `json:"account_id,omitempty"`
	AccessToken           string   `json:"access_token"`
	RefreshToken          string   `json:"refresh_token,omitempty"`
	ExpiresAt             string   `json:"expires_at,omitempty"`
	ExpiresIn             *int64   `json:"expires_in,omitempty"`
	RefreshTokenExpiresAt string   `json:"refresh_token_expires_at,omitempty"`
	Scopes                []string `json:"scopes,omitempty"`
	UserEmail             string   `json:"user_email,omitempty"`
}

// Link stores a connection's tokens (POST /v1/connections) and returns the
// connection; created is false when an existing (user, provider, account)
// was re-linked. Needs the connections:write scope.
func (c *Client) Link(ctx context.Context, r LinkRequest) (conn *Connection, created bool, err error) {
	b := linkBody{UserID: r.UserID, Provider: r.Provider, AccountID: r.AccountID, AccessToken: r.AccessToken,
		RefreshToken: r.RefreshToken, Scopes: r.Scopes, UserEmail: r.UserEmail}
	if !r.ExpiresAt.IsZero() {
		b.ExpiresAt = r.ExpiresAt.UTC().Format(time.RFC3339)
	}
	if r.ExpiresIn > 0 {
		secs := int64(r.ExpiresIn / time.Second)
		b.ExpiresIn = &secs
	}
	if !r.RefreshTokenExpiresAt.IsZero() {
		b.RefreshTokenExpiresAt = r.RefreshTokenExpiresAt.UTC().Format(time.RFC3339)
	}
	conn = &Connection{}
	status, _, err := c.do(ctx, request{method: http.MethodPost, path: "/v1/connections", body: b, want: []int{http.StatusCreated, http.StatusOK}}, conn)
	if err != nil {
		return nil, false, err
	}
	return conn, status == http.StatusCreated, nil
}

// Get returns a connection (GET /v1/connections/{id}); an *Error with
// CodeAccountNotFound when there is none.
func (c *Client) Get(ctx context.Context, id string) (*Connection, error) {
	conn := &Connection{}
	if _, _, err := c.do(ctx, request{method: http.MethodGet, path: "/v1/connections/" + pathEscape(id)}, conn); err != nil {
		return nil, err
	}
	return conn, nil
}

// ListOptions filter List. The zero value lists every connection, 100 a page.
type ListOptions struct {
	UserID   string
	Provider string
	Status   string
	// ExpiringWithin keeps connections whose access token expires within it.
	ExpiringWithin time.Duration
	// Cursor is ConnectionList.NextCursor of the previous page.
	Cursor string
	// Limit is the page size (1–1000; 0 means 100).
	Limit int
}

// ConnectionList is one page of List.
type ConnectionList struct {
	Connections []*Connection `json:"connections"`
	// NextCursor fetches the next page; "" on the last one.
	NextCursor string `json:"next_cursor"`
}

// List returns a page of connections ordered by id (GET /v1/connections).
func (c *Client) List(ctx context.Context, o ListOptions) (*ConnectionList, error) {
	q := url.Values{}
	set := func(k, v string) {
		if v != "" {
			q.Set(k, v)
		}
	}
	set("user_id", o.UserID)
	set("provider", o.Provider)
	set("status", o.Status)
	set("cursor", o.Cursor)
	if o.ExpiringWithin > 0 {
		q.Set("expiring_within", strconv.FormatInt(int64(o.ExpiringWithin/time.Second), 10))
	}
	if o.Limit > 0 {
		q.Set("limit", strconv.Itoa(o.Limit))
	}
	l := &ConnectionList{}
	if _, _, err := c.do(ctx, request{method: http.MethodGet, path: "/v1/connections", query: q}, l); err != nil {
		return nil, err
	}
	return l, nil
}

// Refresh refreshes the connection now (POST /v1/connections/{id}/refresh)
// and returns it. With the access token a resource server just rejected
// (HTTP 401), tokenkeeper refreshes only if that token is still the
// current one, so many callers reporting the same token cause one refresh;
// pass "" to force a refresh.
func (c *Client) Refresh(ctx context.Context, id, rejectedAccessToken string) (*Connection, error) {
	var body any
	if rejectedAccessToken != "" {
		body = map[string]string{"rejected_access_token": rejectedAccessToken}
	}
	conn := &Connection{}
	_, _, err := c.do(ctx, request{method: http.MethodPost, path: "/v1/connections/" + pathEscape(id) + "/refresh", body: body}, conn)
	if err != nil {
		return nil, err
	}
	return conn, nil
}

// Disconnect revokes the connection's tokens at the provider where it can,
// erases them and marks it disconnected (DELETE /v1/connections/{id}). A
// revocation that fails for a passing reason is retried by tokenkeeper.
func (c *Client) Disconnect(ctx context.Context, id string) (*Connection, error) {
	conn := &Connection{}
	if _, _, err := c.do(ctx, request{method: http.MethodDelete, path: "/v1/connections/" + pathEscape(id)}, conn); err != nil {
		return nil, err
	}
	return conn, nil
}

// ConnectOptions start the connect flow for one user.
type ConnectOptions struct {
	// UserID is the application's id of the user. Required.
	UserID string
	// ReturnURL is where the user's browser goes when the flow ends, with
	// connection_id and status (or error) added to its query. It must be on
	// tokenkeeper's return_urls allow-list; "" ends on tokenkeeper's page.
	ReturnURL string
	// AccountID is a hint used when the provider cannot say which account signed in.
	AccountID string
	// Scopes are asked for on top of the provider's configured scopes.
	Scopes []string
}

// ConnectStart is a started connect flow.
type ConnectStart struct {
	// AuthorizationURL is the provider's page to send the user's browser to.
	AuthorizationURL string `json:"authorization_url"`
	// ExpiresAt is when the flow expires if the user has not come back.
	ExpiresAt time.Time `json:"expires_at"`
}

// ConnectURL starts the connect flow for a user at provider
// (GET /v1/connect/{provider}) and returns the provider's authorization URL:
// redirect the user's browser there. Needs the connections:write scope.
func (c *Client) ConnectURL(ctx context.Context, provider string, o ConnectOptions) (*ConnectStart, error) {
	q := url.Values{"user_id": {o.UserID}}
	if o.ReturnURL != "" {
		q.Set("return_url", o.ReturnURL)
	}
	if o.AccountID != "" {
		q.Set("account_id", o.AccountID)
	}
	if len(o.Scopes) > 0 {
		q.Set("scopes", strings.Join(o.Scopes, " "))
	}
	s := &ConnectStart{}
	_, h, err := c.do(ctx, request{method: http.MethodGet, path: "/v1/connect/" + pathEscape(provider), query: q, want: []int{http.StatusFound}}, s)
	if err != nil {
		return nil, err
	}
	if s.AuthorizationURL == "" {
		s.AuthorizationURL = h.Get("Location")
	}
	return s, nil
}
