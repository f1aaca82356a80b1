package bench

import (
	"context"
	crand "crypto/rand"
	"encoding/json"
	"errors"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tokenkeeper/tokenkeeper"
)

// The fake provider's one registered client.
const (
	fakeClientID     = "bench-client"
	fakeClientSecret = "bench-secret"
)

// ProviderOptions configure a fake provider. The zero value answers at once,
// never fails and issues one-hour access tokens.
type ProviderOptions struct {
	// Latency is added to every token request before it is answered.
	Latency time.Duration
	// ErrorRate is the share of refresh requests, in [0,1], answered 503
	// temporarily_unavailable (without rotating the refresh token).
	ErrorRate float64
	// Lifetime is expires_in of the tokens issued by Grant(0) (default 1h).
	Lifetime time.Duration
	// Now stamps refresh times (default time.Now); a simulation passes its
	// fake clock.
	Now func() time.Time
}

// Provider is a loopback OAuth2 token endpoint (POST /token, refresh_token
// grant, client_secret_post) that rotates refresh tokens as a real provider
// does: every successful refresh issues a new access and refresh token and
// retires the old refresh token, which is refused (invalid_grant) and
// counted as a reuse if presented again. It is safe for concurrent use.
type Provider struct {
	opts ProviderOptions
	srv  *http.Server
	url  string

	mu      sync.Mutex
	current map[string]*grant // refresh token → grant
	retired map[string]bool   // rotated-away refresh tokens
	grants  []*grant

	requests, refreshes, failures, reuses, rejected atomic.Int64
}

// grant is one user's authorization at the fake provider.
type grant struct {
	id        int
	refresh   string
	lifetime  time.Duration
	refreshes int
	lastAt    time.Time
}

// StartProvider starts a fake provider on a loopback port; Close stops it.
func StartProvider(o ProviderOptions) (*Provider, error) {
	if o.Lifetime <= 0 {
		o.Lifetime = time.Hour
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &Provider{opts: o, url: "http://" + ln.Addr().String(), current: map[string]*grant{}, retired: map[string]bool{}}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /token", p.token)
	p.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = p.srv.Serve(ln) }()
	return p, nil
}

// Close stops the server, ending open connections.
func (p *Provider) Close() error { return p.srv.Close() }

// URL returns the base URL, "http://127.0.0.1:port".
func (p *Provider) URL() string { return p.url }

// TokenURL returns the token endpoint's URL.
func (p *Provider) TokenURL() string { return p.url + "/token" }

// Provider returns a tokenkeeper provider configuration pointing at the
// fake: client_secret_post, rotating refresh tokens.
func (p *Provider) Provider(name string) *tokenkeeper.Provider {
	return &tokenkeeper.Provider{
		Name: name, DisplayName: name,
		AuthURL: p.url + "/authorize", TokenURL: p.TokenURL(),
		AuthMethod: tokenkeeper.AuthPost, PKCE: tokenkeeper.PKCESupported,
		ClientID: fakeClientID, ClientSecret: tokenkeeper.Secret(fakeClientSecret),
		RefreshSupported: true, Rotates: true, AccessTokenLifetime: p.opts.Lifetime,
		Custom: true,
	}
}

// Grant mints a grant whose refreshed access tokens live lifetime (the
// provider's default when 0) and returns its id and first refresh token.
func (p *Provider) Grant(lifetime time.Duration) (id int, refreshToken tokenkeeper.Secret) {
	if lifetime <= 0 {
		lifetime = p.opts.Lifetime
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	g := &grant{id: len(p.grants), refresh: newToken("rt_"), lifetime: lifetime}
	p.grants = append(p.grants, g)
	p.current[g.refresh] = g
	return g.id, tokenkeeper.Secret(g.refresh)
}

// ProviderStats are the fake provider's counters.
type ProviderStats struct {
	// Requests is every request to /token; Refreshes the successful
	// refreshes; Failures the injected 503s; Reuses the rotated-away refresh
	// tokens presented again; Rejected the unknown tokens and bad clients.
	Requests, Refreshes, Failures, Reuses, Rejected int64
}

// Stats returns the counters.
func (p *Provider) Stats() ProviderStats {
	return ProviderStats{
		Requests: p.requests.Load(), Refreshes: p.refreshes.Load(), Failures: p.failures.Load(),
		Reuses: p.reuses.Load(), Rejected: p.rejected.Load(),
	}
}

// GrantRefreshes returns, for grant id, how many successful refreshes it had
// and when the last one was answered.
func (p *Provider) GrantRefreshes(id int) (n int, last time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if id < 0 || id >= len(p.grants) {
		return 0, time.Time{}
	}
	g := p.grants[id]
	return g.refreshes, g.lastAt
}

// token serves POST /token.
func (p *Provider) token(w http.ResponseWriter, r *http.Request) {
	p.requests.Add(1)
	if p.opts.Latency > 0 {
		time.Sleep(p.opts.Latency)
	}
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if err := r.ParseForm(); err != nil {
		p.fail(w, http.StatusBadRequest, "invalid_request")
		return
	}
	if r.PostForm.Get("client_id") != fakeClientID || r.PostForm.Get("client_secret") != fakeClientSecret {
		p.fail(w, http.StatusUnauthorized, "invalid_client")
		return
	}
	if r.PostForm.Get("grant_type") != "refresh_token" {
		p.fail(w, http.StatusBadRequest, "unsupported_grant_type")
		return
	}
	if p.opts.ErrorRate > 0 && rand.Float64() < p.opts.ErrorRate {
		p.failures.Add(1)
		writeTokenError(w, http.StatusServiceUnavailable, "temporarily_unavailable")
		return
	}
	rt := r.PostForm.Get("refresh_token")
	access, next := newToken("at_"), newToken("rt_")
	p.mu.Lock()
	g := p.current[rt]
	if g == nil {
		reused := p.retired[rt]
		p.mu.Unlock()
		if reused {
			p.reuses.Add(1)
		}
		p.fail(w, http.StatusBadRequest, "invalid_grant")
		return
	}
	delete(p.current, rt)
	p.retired[rt] = true
	g.refresh, g.refreshes, g.lastAt = next, g.refreshes+1, p.opts.Now()
	p.current[next] = g
	lifetime := g.lifetime
	p.mu.Unlock()
	p.refreshes.Add(1)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_, _ = w.Write(tokenBody(access, next, lifetime))
}

func (p *Provider) fail(w http.ResponseWriter, status int, code string) {
	p.rejected.Add(1)
	writeTokenError(w, status, code)
}

func writeTokenError(w http.ResponseWriter, status int, code string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write([]byte(`{"error":"` + code + `"}`))
}

// tokenBody returns a token response, built without reflection.
func tokenBody(access, refresh string, lifetime time.Duration) []byte {
	b := make([]byte, 0, 160)
	b = append(b, `{"access_token":"`...)
	b = append(b, access...)
	b = append(b, `","token_type":"Bearer","expires_in":`...)
	b = strconv.AppendInt(b, max(int64(lifetime/time.Second), 1), 10)
	b = append(b, `,"refresh_token":"`...)
	b = append(b, refresh...)
	b = append(b, `","scope":"read"}`...)
	return b
}

// newToken returns prefix followed by 128 random bits in base32.
func newToken(prefix string) string { return prefix + crand.Text() }

// tokenAnswer is the part of a token response the raw client reads.
type tokenAnswer struct {
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token"`
	ExpiresIn    int64  `json:"expires_in"`
	Error        string `json:"error"`
}

// rawRefresh sends one refresh_token grant with a plain http.Client and
// returns the rotated refresh token ("" with an error when the provider
// refused).
func rawRefresh(ctx context.Context, hc *http.Client, tokenURL, refreshToken string) (string, error) {
	form := url.Values{
		"grant_type":    {"refresh_token"},
		"refresh_token": {refreshToken},
		"client_id":     {fakeClientID},
		"client_secret": {fakeClientSecret},
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, tokenURL, strings.NewReader(form.Encode()))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	resp, err := hc.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	var a tokenAnswer
	if err := json.NewDecoder(resp.Body).Decode(&a); err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusOK {
		return "", errors.New("token endpoint answered " + strconv.Itoa(resp.StatusCode) + " " + a.Error)
	}
	return a.RefreshToken, nil
}
