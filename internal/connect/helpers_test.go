package connect_test

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tokenkeeper/tokenkeeper"
	"github.com/tokenkeeper/tokenkeeper/internal/apikey"
	"github.com/tokenkeeper/tokenkeeper/internal/clock"
	"github.com/tokenkeeper/tokenkeeper/internal/connect"
	"github.com/tokenkeeper/tokenkeeper/internal/httpapi"
	"github.com/tokenkeeper/tokenkeeper/internal/oauth"
	"github.com/tokenkeeper/tokenkeeper/internal/providertest"
	"github.com/tokenkeeper/tokenkeeper/internal/refresh"
	"github.com/tokenkeeper/tokenkeeper/internal/sqlite"
	"github.com/tokenkeeper/tokenkeeper/internal/vault"
)

// catalog is a tokenkeeper.Catalog whose providers a test may change.
type catalog struct {
	mu sync.Mutex
	m  map[string]*tokenkeeper.Provider
}

func (c *catalog) Provider(name string) (*tokenkeeper.Provider, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	p, ok := c.m[name]
	if !ok {
		return nil, false
	}
	cp := *p
	return &cp, true
}

func (c *catalog) Providers() []*tokenkeeper.Provider {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []*tokenkeeper.Provider
	for _, p := range c.m {
		cp := *p
		out = append(out, &cp)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// set changes a provider.
func (c *catalog) set(name string, mod func(p *tokenkeeper.Provider)) {
	c.mu.Lock()
	defer c.mu.Unlock()
	mod(c.m[name])
}

// fixture is tokenkeeper's HTTP API with the connect flow, on a real SQLite
// file, in front of an in-process fake provider ("acme").
type fixture struct {
	t        *testing.T
	store    *sqlite.Store
	ring     *vault.Ring
	provider *providertest.Server
	catalog  *catalog
	clock    *clock.Fake // the connect flow's clock
	keeper   *refresh.Refresher
	links    *connect.Links
	handler  *connect.Handler
	server   *httptest.Server
	key      string // an API key with connections:write
	logs     *bytes.Buffer
	logMu    *sync.Mutex
}

// returnURL is on the fixture's allow-list.
const returnURL = "https://app.example/oauth/done?tab=settings"

func setup(t *testing.T) *fixture {
	t.Helper()
	f := &fixture{t: t, clock: clock.NewFake(time.Now()), logs: &bytes.Buffer{}, logMu: &sync.Mutex{}}
	var err error
	if f.store, err = sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "tk.db"), sqlite.Options{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.store.Close() })
	if err := f.store.Migrate(t.Context()); err != nil {
		t.Fatal(err)
	}
	k, err := vault.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	if f.ring, err = vault.NewRing(k); err != nil {
		t.Fatal(err)
	}
	f.provider = providertest.New(providertest.Options{Rotate: true})
	t.Cleanup(f.provider.Close)
	p := f.provider.Provider("acme")
	// login_hint makes the fake provider sign in as "alice" (account id alice).
	p.AuthParams = map[string]string{"access_type": "offline", "prompt": "consent", "login_hint": "alice"}
	p.Scopes = []string{"read"}
	f.catalog = &catalog{m: map[string]*tokenkeeper.Provider{"acme": p}}
	logger := slog.New(slog.NewTextHandler(lockedWriter{f.logMu, f.logs}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	client := oauth.New(oauth.Options{HTTPClient: f.provider.Client(), Timeout: 5 * time.Second, Logger: logger})
	if f.keeper, err = refresh.New(refresh.Options{Store: f.store, Sealer: f.ring, Catalog: f.catalog, Client: client, Logger: logger}); err != nil {
		t.Fatal(err)
	}
	var api http.Handler
	f.server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { api.ServeHTTP(w, r) }))
	t.Cleanup(f.server.Close)
	if f.links, err = connect.NewLinks(connect.LinkOptions{Keys: f.ring.DeriveAll(connect.LinkKeyPurpose), PublicURL: f.server.URL, Now: f.clock.Now}); err != nil {
		t.Fatal(err)
	}
	allow, err := connect.ParseAllowList("https://app.example/oauth/")
	if err != nil {
		t.Fatal(err)
	}
	f.handler, err = connect.New(connect.Options{
		Store: f.store, Keeper: f.keeper, Catalog: f.catalog, Sealer: f.ring, Client: client, Links: f.links,
		PublicURL: f.server.URL, ReturnURLs: allow, Clock: f.clock, Logger: logger,
	})
	if err != nil {
		t.Fatal(err)
	}
	api = httpapi.New(httpapi.Config{Keeper: f.keeper, Store: f.store, Catalog: f.catalog, Logger: logger, Connect: f.handler})
	f.key = f.apiKey(tokenkeeper.ScopeConnectionsWrite)
	return f
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// apiKey stores a new API key with scopes and returns its plaintext.
func (f *fixture) apiKey(scopes ...tokenkeeper.Scope) string {
	f.t.Helper()
	plain, k, err := apikey.Generate("test", scopes, time.Now())
	if err != nil {
		f.t.Fatal(err)
	}
	if err := f.store.CreateAPIKey(f.t.Context(), k); err != nil {
		f.t.Fatal(err)
	}
	return plain.Reveal()
}

// response is an answer read in full.
type response struct {
	status int
	header http.Header
	body   string
}

// location returns the Location header parsed.
func (r response) location(t *testing.T) *url.URL {
	t.Helper()
	u, err := url.Parse(r.header.Get("Location"))
	if err != nil || r.header.Get("Location") == "" {
		t.Fatalf("answer %d has no usable Location: %q\n%s", r.status, r.header.Get("Location"), r.body)
	}
	return u
}

// get sends GET target (absolute, or a path on the API) with key (none when
// ""), following no redirect.
func (f *fixture) get(target, key string) response {
	f.t.Helper()
	if strings.HasPrefix(target, "/") {
		target = f.server.URL + target
	}
	req, err := http.NewRequestWithContext(f.t.Context(), http.MethodGet, target, nil)
	if err != nil {
		f.t.Fatal(err)
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Do(req)
	if err != nil {
		f.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return response{resp.StatusCode, resp.Header, string(b)}
}

// start asks the API to start a flow with the query q and returns the
// provider's authorization URL.
func (f *fixture) start(q url.Values) *url.URL {
	f.t.Helper()
	r := f.get("/v1/connect/acme?"+q.Encode(), f.key)
	if r.status != http.StatusFound {
		f.t.Fatalf("start: %d %s", r.status, r.body)
	}
	var body struct {
		AuthorizationURL string `json:"authorization_url"`
	}
	if err := json.Unmarshal([]byte(r.body), &body); err != nil || body.AuthorizationURL != r.header.Get("Location") {
		f.t.Fatalf("start body %q does not repeat the Location %q", r.body, r.header.Get("Location"))
	}
	return r.location(f.t)
}

// authorize plays the user at the provider: it follows the authorization
// URL and returns the callback URL the provider redirects to.
func (f *fixture) authorize(authURL *url.URL) *url.URL {
	f.t.Helper()
	r := f.get(authURL.String(), "")
	cb := r.location(f.t)
	if !strings.HasPrefix(cb.String(), f.server.URL+connect.CallbackPath+"?") {
		f.t.Fatalf("the provider redirected to %s, not the callback", cb.Redacted())
	}
	return cb
}

// connections returns every stored connection.
func (f *fixture) connections() []*tokenkeeper.Connection {
	f.t.Helper()
	cs, _, err := f.store.ListConnections(f.t.Context(), tokenkeeper.ConnectionFilter{})
	if err != nil {
		f.t.Fatal(err)
	}
	return cs
}

// events returns the types of every stored event.
func (f *fixture) events() []tokenkeeper.EventType {
	f.t.Helper()
	evs, err := f.store.ListEvents(f.t.Context(), 0, 1000)
	if err != nil {
		f.t.Fatal(err)
	}
	var out []tokenkeeper.EventType
	for _, e := range evs {
		out = append(out, e.Type)
	}
	return out
}

// pendingStates returns the number of states in flight.
func (f *fixture) pendingStates() int {
	f.t.Helper()
	n, err := f.store.PendingStates(f.t.Context(), f.clock.Now())
	if err != nil {
		f.t.Fatal(err)
	}
	return n
}

// connectOnce runs a whole flow for user and returns the connection.
func (f *fixture) connectOnce(user string) *tokenkeeper.Connection {
	f.t.Helper()
	cb := f.authorize(f.start(url.Values{"user_id": {user}, "return_url": {returnURL}}))
	r := f.get(cb.String(), "")
	back := r.location(f.t)
	id := back.Query().Get("connection_id")
	c, err := f.store.GetConnection(f.t.Context(), id)
	if err != nil {
		f.t.Fatalf("the callback redirected to %s: %v", back, err)
	}
	return c
}

// logText returns everything logged so far.
func (f *fixture) logText() string {
	f.logMu.Lock()
	defer f.logMu.Unlock()
	return f.logs.String()
}
