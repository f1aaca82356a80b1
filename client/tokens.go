package client

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"time"

	"golang.org/x/oauth2"
)

// DefaultEarlyExpiry is how long before its expiry a TokenSource stops
// using a cached token and asks tokenkeeper for one valid at least that long.
const DefaultEarlyExpiry = time.Minute

// Token is a valid access token handed out by tokenkeeper. The refresh
// token never leaves tokenkeeper.
type Token struct {
	AccessToken string    `json:"access_token"`
	TokenType   string    `json:"token_type"`
	ExpiresAt   time.Time `json:"expires_at"` // zero when the provider gave no expiry
	// ExpiresIn is the seconds left at the time of the answer; -1 when unknown.
	ExpiresIn    int64    `json:"-"`
	ConnectionID string   `json:"connection_id"`
	Provider     string   `json:"provider"`
	Scopes       []string `json:"scopes"`
}

// OAuth2 returns t as an x/oauth2 token.
func (t *Token) OAuth2() *oauth2.Token {
	typ := t.TokenType
	if typ == "" {
		typ = "Bearer"
	}
	return &oauth2.Token{AccessToken: t.AccessToken, TokenType: typ, Expiry: t.ExpiresAt}
}

// tokenBody is the JSON of GET …/token.
type tokenBody struct {
	Token
	ExpiresIn *int64 `json:"expires_in"`
}

// getToken reads a token route.
func (c *Client) getToken(ctx context.Context, path string, q url.Values) (*Token, error) {
	var b tokenBody
	if _, _, err := c.do(ctx, request{method: http.MethodGet, path: path, query: q}, &b); err != nil {
		return nil, err
	}
	t := b.Token
	t.ExpiresIn = -1
	if b.ExpiresIn != nil {
		t.ExpiresIn = *b.ExpiresIn
	}
	return &t, nil
}

// Token returns a valid access token of the connection
// (GET /v1/connections/{id}/token), refreshed first by tokenkeeper when it
// expires within minValidity (0: tokenkeeper's read threshold). Errors are
// *Error values: CodeNeedsReauth (with ReconnectURL), CodeTokenRefreshError
// (with RetryAfter), CodeAccountNotFound, … Needs the tokens:read scope.
func (c *Client) Token(ctx context.Context, connectionID string, minValidity time.Duration) (*Token, error) {
	return c.getToken(ctx, "/v1/connections/"+pathEscape(connectionID)+"/token", validity(nil, minValidity))
}

// TokenByUserOptions narrow TokenByUser.
type TokenByUserOptions struct {
	// AccountID picks one account when the user has several at the provider.
	AccountID string
	// MinValidity: see Token.
	MinValidity time.Duration
}

// TokenByUser returns a valid access token of the user's connection at
// provider (GET /v1/users/{user_id}/providers/{provider}/token); o may be nil.
func (c *Client) TokenByUser(ctx context.Context, userID, provider string, o *TokenByUserOptions) (*Token, error) {
	q := url.Values{}
	var minValidity time.Duration
	if o != nil {
		if o.AccountID != "" {
			q.Set("account_id", o.AccountID)
		}
		minValidity = o.MinValidity
	}
	return c.getToken(ctx, "/v1/users/"+pathEscape(userID)+"/providers/"+pathEscape(provider)+"/token", validity(q, minValidity))
}

// validity adds min_validity (whole seconds, rounded up) to q.
func validity(q url.Values, d time.Duration) url.Values {
	if d <= 0 {
		return q
	}
	if q == nil {
		q = url.Values{}
	}
	q.Set("min_validity", strconv.FormatInt(int64((d+time.Second-1)/time.Second), 10))
	return q
}

// TokenSource is an oauth2.TokenSource over one tokenkeeper connection: it
// caches the access token until EarlyExpiry before its expiry, then asks
// tokenkeeper for one valid at least that long (tokenkeeper refreshes it at
// the provider when needed). It is safe for concurrent use.
type TokenSource struct {
	c            *Client
	ctx          context.Context
	connectionID string
	// EarlyExpiry is the margin before expiry (default DefaultEarlyExpiry);
	// set it before the first Token call.
	EarlyExpiry time.Duration

	mu  sync.Mutex
	tok *Token
}

// TokenSource returns an oauth2.TokenSource over the connection, for
// oauth2.NewClient and every API that takes one: a program using
// golang.org/x/oauth2 gets its tokens from tokenkeeper with no other change.
// ctx is used for the requests to tokenkeeper. The value is a *TokenSource;
// see NewTokenSource for its Rejected method.
func (c *Client) TokenSource(ctx context.Context, connectionID string) oauth2.TokenSource {
	return c.NewTokenSource(ctx, connectionID)
}

// NewTokenSource is TokenSource returning the concrete type.
func (c *Client) NewTokenSource(ctx context.Context, connectionID string) *TokenSource {
	return &TokenSource{c: c, ctx: ctx, connectionID: connectionID, EarlyExpiry: DefaultEarlyExpiry}
}

// Token returns the cached access token while it is valid for longer than
// EarlyExpiry, else a new one from tokenkeeper. A token without an expiry
// is cached until Rejected. Errors are *Error values (NEEDS_REAUTH: the user
// must reconnect; see Error.ReconnectURL).
func (s *TokenSource) Token() (*oauth2.Token, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := time.Now()
	if s.tok != nil && (s.tok.ExpiresAt.IsZero() || s.tok.ExpiresAt.Sub(now) > s.EarlyExpiry) {
		return s.tok.OAuth2(), nil
	}
	t, err := s.c.Token(s.ctx, s.connectionID, s.EarlyExpiry+time.Second)
	if err != nil {
		return nil, err
	}
	if t.AccessToken == "" {
		return nil, errors.New("tokenkeeper client: the token answer has no access token")
	}
	s.tok = t
	return t.OAuth2(), nil
}

// Rejected tells tokenkeeper that a resource server refused tok (HTTP 401):
// tokenkeeper refreshes the connection unless another caller already did,
// and the next Token call fetches the new token.
func (s *TokenSource) Rejected(ctx context.Context, tok *oauth2.Token) error {
	s.mu.Lock()
	s.tok = nil
	s.mu.Unlock()
	var rejected string
	if tok != nil {
		rejected = tok.AccessToken
	}
	_, err := s.c.Refresh(ctx, s.connectionID, rejected)
	return err
}
