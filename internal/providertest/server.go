// Package providertest is an in-process fake OAuth2 authorization server for
// tests: authorization endpoint with auto-consent and PKCE (S256), token
// endpoint (authorization_code and refresh_token grants) enforcing one client
// authentication style, optional refresh-token rotation with reuse detection
// that revokes the whole grant (RFC 9700 §4.14.2), RFC 7009 revocation, a
// userinfo endpoint, failure injection and counters. It keeps all state in
// memory behind one mutex and serves well over 10,000 refreshes per second.
//
// Endpoints, relative to URL(): GET /authorize, POST /token, POST /revoke,
// GET /userinfo (Bearer access token → {"id": account}).
package providertest

import (
	"crypto/rand"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"time"

	"github.com/tokenkeeper/tokenkeeper"
)

// Options configure a Server. The zero value is usable.
type Options struct {
	// AuthMethod is the only client authentication style the token and
	// revocation endpoints accept (default tokenkeeper.AuthPost); a request
	// in the other style, or in both, gets 401 invalid_client.
	AuthMethod tokenkeeper.AuthMethod
	// ClientID and ClientSecret are the one registered client (defaults
	// "providertest-client" and "providertest-secret").
	ClientID, ClientSecret string
	// Rotate issues a new refresh token on every refresh; the old one stops
	// working (invalid_grant). Without it a refresh answer carries no
	// refresh_token, as Google's does, and the refresh token stays valid.
	Rotate bool
	// ReuseDetection: presenting a rotated-away refresh token revokes the
	// whole grant, its newest tokens included.
	ReuseDetection bool
	// AccessTokenTTL is the access tokens' lifetime (default 1h).
	AccessTokenTTL time.Duration
	// Now is the clock for token and code expiry (default time.Now).
	Now func() time.Time
}

// Server is a running fake provider. It is safe for concurrent use.
type Server struct {
	srv       *httptest.Server
	client    *http.Client
	opts      Options
	done      chan struct{}
	closeOnce sync.Once

	mu            sync.Mutex
	refreshTokens map[string]*refreshEntry
	accessTokens  map[string]*grant
	codes         map[string]*authCode
	script        []Response
	failAll       *Response
	refreshesOf   map[string]int
	refreshes     int
	reuses        int
	revocations   int
	requests      int
	accounts      int
}

// grant is one user's authorization: its current tokens and whether it is revoked.
type grant struct {
	account   string
	scopes    []string
	refresh   string
	access    string
	accessExp time.Time
	revoked   bool
}

// refreshEntry is a refresh token ever issued; used means rotated away.
type refreshEntry struct {
	g    *grant
	used bool
}

// authCode is an authorization code waiting for its exchange.
type authCode struct {
	redirectURI string
	challenge   string
	scopes      []string
	account     string
	expires     time.Time
	used        bool
	g           *grant // the grant issued for it, once exchanged
}

// New starts a fake provider on a loopback port. Close it when done.
func New(opts Options) *Server {
	if opts.AuthMethod == "" {
		opts.AuthMethod = tokenkeeper.AuthPost
	}
	if opts.ClientID == "" {
		opts.ClientID = "providertest-client"
	}
	if opts.ClientSecret == "" {
		opts.ClientSecret = "providertest-secret"
	}
	if opts.AccessTokenTTL <= 0 {
		opts.AccessTokenTTL = time.Hour
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	s := &Server{
		opts:          opts,
		done:          make(chan struct{}),
		refreshTokens: map[string]*refreshEntry{},
		accessTokens:  map[string]*grant{},
		codes:         map[string]*authCode{},
		refreshesOf:   map[string]int{},
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/authorize", s.authorize)
	mux.HandleFunc("/token", s.token)
	mux.HandleFunc("/revoke", s.revoke)
	mux.HandleFunc("/userinfo", s.userinfo)
	s.client = &http.Client{
		Transport:     &http.Transport{MaxIdleConns: 512, MaxIdleConnsPerHost: 512},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	s.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.requests++
		s.mu.Unlock()
		mux.ServeHTTP(w, r)
	}))
	return s
}

// Close ends hanging responses and shuts the server down. It is idempotent.
func (s *Server) Close() {
	s.closeOnce.Do(func() {
		close(s.done)
		s.srv.Close()
		s.client.CloseIdleConnections()
	})
}

// URL is the server's base URL ("http://127.0.0.1:port").
func (s *Server) URL() string { return s.srv.URL }

// Client returns the server's HTTP client, shared by all callers, with a
// connection pool sized for concurrent tests. It does not follow redirects.
func (s *Server) Client() *http.Client { return s.client }

// Provider returns a provider configuration pointing at this server, with its
// client credentials, auth method, rotation flag and access token lifetime.
func (s *Server) Provider(name string) *tokenkeeper.Provider {
	return &tokenkeeper.Provider{
		Name:                name,
		DisplayName:         name,
		AuthURL:             s.srv.URL + "/authorize",
		TokenURL:            s.srv.URL + "/token",
		RevokeURL:           s.srv.URL + "/revoke",
		AccountURL:          s.srv.URL + "/userinfo",
		AccountIDField:      "id",
		AuthMethod:          s.opts.AuthMethod,
		PKCE:                tokenkeeper.PKCESupported,
		ClientID:            s.opts.ClientID,
		ClientSecret:        tokenkeeper.Secret(s.opts.ClientSecret),
		RefreshSupported:    true,
		Rotates:             s.opts.Rotate,
		AccessTokenLifetime: s.opts.AccessTokenTTL,
	}
}

// Grant mints a new grant without a browser, as if a user had consented to
// scopes, and returns its tokens: access and refresh token, type Bearer, the
// access token's expiry and lifetime, and the scopes.
func (s *Server) Grant(scopes ...string) tokenkeeper.Token {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.accounts++
	g := s.newGrantLocked(scopes, "user-"+strconv.Itoa(s.accounts))
	return tokenkeeper.Token{
		AccessToken:  tokenkeeper.Secret(g.access),
		RefreshToken: tokenkeeper.Secret(g.refresh),
		TokenType:    "Bearer",
		ExpiresAt:    g.accessExp,
		Lifetime:     s.opts.AccessTokenTTL,
		Scopes:       append([]string(nil), scopes...),
	}
}

// newGrantLocked creates a grant with fresh tokens; s.mu is held.
func (s *Server) newGrantLocked(scopes []string, account string) *grant {
	g := &grant{account: account, scopes: append([]string(nil), scopes...), refresh: newToken("rt_")}
	s.refreshTokens[g.refresh] = &refreshEntry{g: g}
	s.issueAccessLocked(g)
	return g
}

// issueAccessLocked gives g a new access token; s.mu is held.
func (s *Server) issueAccessLocked(g *grant) {
	delete(s.accessTokens, g.access)
	g.access = newToken("at_")
	g.accessExp = s.opts.Now().Add(s.opts.AccessTokenTTL)
	s.accessTokens[g.access] = g
}

// RevokeGrant revokes the grant that refreshToken (any of its refresh tokens)
// belongs to, as a user removing the app at the provider would. It reports
// whether the token was known.
func (s *Server) RevokeGrant(refreshToken string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.refreshTokens[refreshToken]
	if e == nil {
		return false
	}
	e.g.revoked = true
	return true
}

// Alive reports whether the grant that refreshToken (any refresh token it
// was ever issued, rotated-away ones included) belongs to is still alive.
func (s *Server) Alive(refreshToken string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.refreshTokens[refreshToken]
	return e != nil && !e.g.revoked
}

// Current returns the grant's current refresh token, given any refresh token
// it was ever issued; "" when unknown.
func (s *Server) Current(refreshToken string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if e := s.refreshTokens[refreshToken]; e != nil {
		return e.g.refresh
	}
	return ""
}

// newToken returns prefix followed by 128 random bits in base32.
func newToken(prefix string) string { return prefix + rand.Text() }

// Refreshes returns the refresh_token grant requests that reached the token
// endpoint, whatever their outcome: injected failures, rejected client
// authentication and invalid_grant included.
func (s *Server) Refreshes() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.refreshes
}

// RefreshesOf returns how many refresh_token grant requests presented
// refreshToken, whatever their outcome.
func (s *Server) RefreshesOf(refreshToken string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.refreshesOf[refreshToken]
}

// Reuses returns how many times a rotated-away refresh token was presented
// (with or without ReuseDetection, to a live or a revoked grant): a client
// that never replays keeps it 0.
func (s *Server) Reuses() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.reuses
}

// Revocations returns the revocation requests that passed client
// authentication, known tokens or not.
func (s *Server) Revocations() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.revocations
}

// Requests returns every HTTP request the server received, on any path.
func (s *Server) Requests() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.requests
}
