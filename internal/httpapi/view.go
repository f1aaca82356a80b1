package httpapi

import (
	"time"

	"github.com/tokenkeeper/tokenkeeper"
)

// connectionView is the JSON shape of a connection. It has no token field:
// a connection's tokens are only ever sent by the token routes.
type connectionView struct {
	ID                           string         `json:"id"`
	UserID                       string         `json:"user_id"`
	Provider                     string         `json:"provider"`
	AccountID                    string         `json:"account_id"`
	Scopes                       []string       `json:"scopes"`
	Status                       string         `json:"status"`
	HasRefreshToken              bool           `json:"has_refresh_token"`
	ExpiresAt                    *time.Time     `json:"expires_at"`
	RefreshTokenExpiresAt        *time.Time     `json:"refresh_token_expires_at"`
	ConsecutiveFailures          int            `json:"consecutive_failures"`
	ConsecutiveTransientFailures int            `json:"consecutive_transient_failures"`
	LastRefreshedAt              *time.Time     `json:"last_refreshed_at"`
	LastError                    *lastErrorView `json:"last_error"`
	NextRefreshAt                *time.Time     `json:"next_refresh_at"`
	Version                      int64          `json:"version"`
	CreatedAt                    *time.Time     `json:"created_at"`
	UpdatedAt                    *time.Time     `json:"updated_at"`
}

// lastErrorView is the JSON shape of a connection's last refresh failure.
type lastErrorView struct {
	Class      string     `json:"class"`
	Code       string     `json:"code"`
	HTTPStatus *int       `json:"http_status"`
	Message    string     `json:"message"`
	At         *time.Time `json:"at"`
}

// connectionList is the JSON shape of a page of connections.
type connectionList struct {
	Connections []connectionView `json:"connections"`
	NextCursor  *string          `json:"next_cursor"`
}

// tokenView is the JSON shape of GET …/token: the one response that carries
// a plaintext token.
type tokenView struct {
	AccessToken  string     `json:"access_token"`
	TokenType    string     `json:"token_type"`
	ExpiresAt    *time.Time `json:"expires_at"`
	ExpiresIn    *int64     `json:"expires_in"`
	ConnectionID string     `json:"connection_id"`
	Provider     string     `json:"provider"`
	Scopes       []string   `json:"scopes"`
}

// healthView is the JSON shape of /healthz and /readyz.
type healthView struct {
	Status  string `json:"status"`
	Version string `json:"version,omitempty"`
}

func viewConnection(c *tokenkeeper.Connection) connectionView {
	v := connectionView{
		ID:                           c.ID,
		UserID:                       c.UserID,
		Provider:                     c.Provider,
		AccountID:                    c.AccountID,
		Scopes:                       nonNil(c.Scopes),
		Status:                       string(c.Status),
		HasRefreshToken:              c.HasRefreshToken(),
		ExpiresAt:                    timePtr(c.ExpiresAt),
		RefreshTokenExpiresAt:        timePtr(c.RefreshTokenExpiresAt),
		ConsecutiveFailures:          c.ConsecutiveFailures,
		ConsecutiveTransientFailures: c.ConsecutiveTransientFailures,
		LastRefreshedAt:              timePtr(c.LastRefreshedAt),
		NextRefreshAt:                timePtr(c.NextRefreshAt),
		Version:                      c.Version,
		CreatedAt:                    timePtr(c.CreatedAt),
		UpdatedAt:                    timePtr(c.UpdatedAt),
	}
	if le := c.LastError; le != nil {
		v.LastError = &lastErrorView{
			Class:   string(le.Class),
			Code:    le.Code,
			Message: le.Message,
			At:      timePtr(le.At),
		}
		if le.HTTPStatus != 0 {
			status := le.HTTPStatus
			v.LastError.HTTPStatus = &status
		}
	}
	return v
}

func viewConnections(cs []*tokenkeeper.Connection, next string) connectionList {
	l := connectionList{Connections: make([]connectionView, len(cs))}
	for i, c := range cs {
		l.Connections[i] = viewConnection(c)
	}
	if next != "" {
		l.NextCursor = &next
	}
	return l
}

func viewToken(t *tokenkeeper.Token, c *tokenkeeper.Connection, now time.Time) tokenView {
	v := tokenView{
		AccessToken:  t.AccessToken.Reveal(),
		TokenType:    t.TokenType,
		ExpiresAt:    timePtr(t.ExpiresAt),
		ConnectionID: c.ID,
		Provider:     c.Provider,
		Scopes:       t.Scopes,
	}
	if v.TokenType == "" {
		v.TokenType = "Bearer"
	}
	if len(v.Scopes) == 0 {
		v.Scopes = c.Scopes
	}
	v.Scopes = nonNil(v.Scopes)
	if !t.ExpiresAt.IsZero() {
		secs := max(int64(t.ExpiresAt.Sub(now)/time.Second), 0)
		v.ExpiresIn = &secs
	}
	return v
}

// timePtr returns t in UTC, or nil for the zero time (JSON null).
func timePtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	u := t.UTC()
	return &u
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
