package web

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/tokenkeeper/tokenkeeper"
	"github.com/tokenkeeper/tokenkeeper/internal/apikey"
	"github.com/tokenkeeper/tokenkeeper/internal/oauth"
	"github.com/tokenkeeper/tokenkeeper/internal/providertest"
	"github.com/tokenkeeper/tokenkeeper/internal/refresh"
	"github.com/tokenkeeper/tokenkeeper/internal/sqlite"
	"github.com/tokenkeeper/tokenkeeper/internal/testkit"
	"github.com/tokenkeeper/tokenkeeper/internal/vault"
)

type staticCatalog = testkit.Catalog

type syncBuffer = testkit.SyncBuffer

// fixture is the admin page on a real SQLite store and refresher, against
// two in-process providers.
type fixture struct {
	t        *testing.T
	store    *sqlite.Store
	keeper   *refresh.Refresher
	gate     *refresh.ProviderGate
	acme     *providertest.Server
	globex   *providertest.Server
	handler  *Handler
	srv      *httptest.Server
	logs     *syncBuffer
	adminKey string
	// secrets are every token the providers issued and the admin key: none
	// may appear in a page, a log line or a metric.
	secrets []string
}

type options struct {
	noOutbox    bool
	noReconnect bool
	secure      bool
	now         func() time.Time
}

func setup(t *testing.T, o options) *fixture {
	t.Helper()
	ctx := context.Background()
	f := &fixture{t: t, logs: &syncBuffer{}}
	logger := slog.New(slog.NewJSONHandler(f.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "tokenkeeper.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if err := st.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	f.store = st
	key, err := vault.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	ring, err := vault.NewRing(key)
	if err != nil {
		t.Fatal(err)
	}
	f.acme = providertest.New(providertest.Options{})
	t.Cleanup(f.acme.Close)
	f.globex = providertest.New(providertest.Options{AuthMethod: tokenkeeper.AuthBasic})
	t.Cleanup(f.globex.Close)
	acme, globex := f.acme.Provider("acme"), f.globex.Provider("globex")
	acme.DisplayName, globex.DisplayName = "Acme", "Globex"
	cat := staticCatalog{"acme": acme, "globex": globex}
	f.gate = refresh.NewProviderGate(refresh.GateOptions{Catalog: cat})
	f.keeper, err = refresh.New(refresh.Options{
		Store: st, Sealer: ring, Catalog: cat, Gate: f.gate,
		Client: oauth.New(oauth.Options{Timeout: 5 * time.Second, Logger: logger}),
		Logger: logger, Retry: refresh.RetryBudget{Attempts: 1},
		UserHash: func(string) string { return "u_hash" },
	})
	if err != nil {
		t.Fatal(err)
	}
	plain, k, err := apikey.Generate("admin", []tokenkeeper.Scope{tokenkeeper.ScopeAdmin}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := st.CreateAPIKey(ctx, k); err != nil {
		t.Fatal(err)
	}
	f.adminKey = plain.Reveal()
	f.secrets = append(f.secrets, f.adminKey)
	cfg := Config{
		Store: st, Stats: st, Keeper: f.keeper, Catalog: cat,
		SessionKeys: ring.DeriveAll("tokenkeeper/admin-sessions"), SecureCookies: o.secure,
		Breakers: f.gate.BreakerStates, Outbox: st, Now: o.now, Logger: logger,
		Reconnect: func(c *tokenkeeper.Connection) (string, error) {
			return "https://tokenkeeper.example/v1/connect/" + c.Provider + "?reconnect=" + c.ID, nil
		},
	}
	if o.noOutbox {
		cfg.Outbox = nil
	}
	if o.noReconnect {
		cfg.Reconnect = nil
	}
	if f.handler, err = New(cfg); err != nil {
		t.Fatal(err)
	}
	f.srv = httptest.NewServer(f.handler)
	t.Cleanup(f.srv.Close)
	return f
}

// link links a new connection of user at provider and records its tokens.
func (f *fixture) link(user, provider string) *tokenkeeper.Connection {
	f.t.Helper()
	srv := f.acme
	if provider == "globex" {
		srv = f.globex
	}
	g := srv.Grant("read", "profile")
	c, _, err := f.keeper.Link(context.Background(), tokenkeeper.LinkRequest{
		UserID: user, Provider: provider, AccessToken: g.AccessToken, RefreshToken: g.RefreshToken, ExpiresAt: g.ExpiresAt,
	})
	if err != nil {
		f.t.Fatalf("link: %v", err)
	}
	f.secrets = append(f.secrets, g.AccessToken.Reveal(), g.RefreshToken.Reveal())
	return c
}

// client is a browser-like HTTP client with a cookie jar that does not
// follow redirects.
type client struct {
	f  *fixture
	hc *http.Client
}

func (f *fixture) client() *client {
	jar, _ := cookiejar.New(nil)
	return &client{f: f, hc: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

// get fetches a path and returns the status and body.
func (c *client) get(path string) (int, string, *http.Response) {
	c.f.t.Helper()
	res, err := c.hc.Get(c.f.srv.URL + path)
	if err != nil {
		c.f.t.Fatalf("GET %s: %v", path, err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b), res
}

// post submits a form and returns the status and body.
func (c *client) post(path string, form url.Values, header ...string) (int, string, *http.Response) {
	c.f.t.Helper()
	req, err := http.NewRequest(http.MethodPost, c.f.srv.URL+path, strings.NewReader(form.Encode()))
	if err != nil {
		c.f.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	res, err := c.hc.Do(req)
	if err != nil {
		c.f.t.Fatalf("POST %s: %v", path, err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b), res
}

var csrfRE = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// csrf returns the CSRF token of a page's forms.
func csrf(t *testing.T, page string) string {
	t.Helper()
	m := csrfRE.FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("no CSRF token in the page:\n%s", page)
	}
	return m[1]
}

// login logs in with key and returns the overview page's CSRF token.
func (c *client) login(key string) string {
	c.f.t.Helper()
	_, page, _ := c.get("/admin/login")
	status, _, res := c.post("/admin/login", url.Values{"key": {key}, "csrf": {csrf(c.f.t, page)}})
	if status != http.StatusSeeOther || res.Header.Get("Location") != "/admin/" {
		c.f.t.Fatalf("login: %d to %q, want 303 to /admin/", status, res.Header.Get("Location"))
	}
	status, page, _ = c.get("/admin/")
	if status != http.StatusOK {
		c.f.t.Fatalf("overview after login: %d", status)
	}
	return csrf(c.f.t, page)
}

// noSecrets fails when any token or key appears in text.
func (f *fixture) noSecrets(what, text string) {
	f.t.Helper()
	for _, s := range f.secrets {
		if s != "" && strings.Contains(text, s) {
			f.t.Errorf("%s contains a token or key", what)
		}
	}
}
