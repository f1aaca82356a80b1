package tokenkeeper

import (
	"context"
	"time"
)

// LinkRequest links (or re-links) a user's account at a provider with tokens
// the application obtained, or that the connect flow received.
type LinkRequest struct {
	UserID       string
	Provider     string
	AccountID    string
	Scopes       []string
	AccessToken  Secret
	RefreshToken Secret
	// ExpiresAt, or ExpiresIn counted from now; both zero means unknown.
	ExpiresAt             time.Time
	ExpiresIn             time.Duration
	RefreshTokenExpiresAt time.Time
	// UserEmail, when set, is stored sealed for notifications.
	UserEmail string
}

// Keeper is tokenkeeper's application-facing engine: the operations the HTTP
// API, the CLI and an embedding Go program use. internal/refresh implements it.
type Keeper interface {
	// Link stores a connection's tokens, creating it or re-linking the existing
	// connection of the same (user, provider, account): a re-link resets its
	// counters and status. It reports whether a connection was created.
	Link(ctx context.Context, r LinkRequest) (c *Connection, created bool, err error)
	// AccessToken returns a valid access token for the connection, refreshing
	// it first when it expires within the read threshold or minValidity. Errors
	// carry the codes NEEDS_REAUTH, NO_REFRESH_TOKEN, TOKEN_EXPIRED,
	// TOKEN_REFRESH_ERROR (with RetryAfter) or ACCOUNT_NOT_FOUND.
	AccessToken(ctx context.Context, id string, minValidity time.Duration) (*Token, *Connection, error)
	// Refresh refreshes the connection now. With a rejected access token it
	// refreshes only if that token is still the current one, so many callers
	// reporting the same rejected token cause one refresh.
	Refresh(ctx context.Context, id string, trigger Trigger, rejected Secret) (*Connection, error)
	// Disconnect revokes the connection's tokens at the provider where it can,
	// erases them and marks the connection disconnected.
	Disconnect(ctx context.Context, id string) (*Connection, error)
}

// Clock tells the time and waits. Tests use a fake clock that they advance.
type Clock interface {
	Now() time.Time
	// After returns a channel that receives the time once d has passed.
	After(d time.Duration) <-chan time.Time
}
