package client_test

import (
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"github.com/tokenkeeper/tokenkeeper"
	"github.com/tokenkeeper/tokenkeeper/internal/apikey"
	"github.com/tokenkeeper/tokenkeeper/internal/connect"
	"github.com/tokenkeeper/tokenkeeper/internal/httpapi"
	"github.com/tokenkeeper/tokenkeeper/internal/oauth"
	"github.com/tokenkeeper/tokenkeeper/internal/providertest"
	"github.com/tokenkeeper/tokenkeeper/internal/refresh"
	"github.com/tokenkeeper/tokenkeeper/internal/sqlite"
	"github.com/tokenkeeper/tokenkeeper/internal/vault"
)

// catalog is a fixed tokenkeeper.Catalog.
type catalog map[string]*tokenkeeper.Provider

func (c catalog) Provider(name string) (*tokenkeeper.Provider, bool) {
	p, ok := c[name]
	if !ok {
		return nil, false
	}
	cp := *p
	return &cp, true
}

func (c catalog) Providers() []*tokenkeeper.Provider {
	var out []*tokenkeeper.Provider
	for _, p := range c {
		out = append(out, p)
	}
	return out
}

// server is a real tokenkeeper HTTP API (SQLite, vault, refresher, connect
// flow) in front of the in-process fake provider "acme".
type server struct {
	URL      string
	Key      string // tokens:read and connections:write
	Provider *providertest.Server
	Store    *sqlite.Store
}

// returnPrefix is on the server's return URL allow-list.
const returnPrefix = "https://app.example/back"

func startServer(t *testing.T) *server {
	t.Helper()
	st, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "tk.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if err := st.Migrate(t.Context()); err != nil {
		t.Fatal(err)
	}
	k, _ := vault.GenerateKey()
	ring, err := vault.NewRing(k)
	if err != nil {
		t.Fatal(err)
	}
	prov := providertest.New(providertest.Options{Rotate: true, AccessTokenTTL: time.Hour})
	t.Cleanup(prov.Close)
	cat := catalog{"acme": prov.Provider("acme")}
	oc := oauth.New(oauth.Options{HTTPClient: prov.Client(), Timeout: 5 * time.Second})
	keeper, err := refresh.New(refresh.Options{Store: st, Sealer: ring, Catalog: cat, Client: oc})
	if err != nil {
		t.Fatal(err)
	}
	var api http.Handler
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { api.ServeHTTP(w, r) }))
	t.Cleanup(srv.Close)
	links, err := connect.NewLinks(connect.LinkOptions{Keys: ring.DeriveAll(connect.LinkKeyPurpose), PublicURL: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	allow, _ := connect.ParseAllowList(returnPrefix)
	h, err := connect.New(connect.Options{Store: st, Keeper: keeper, Catalog: cat, Sealer: ring, Client: oc, Links: links, PublicURL: srv.URL, ReturnURLs: allow})
	if err != nil {
		t.Fatal(err)
	}
	api = httpapi.New(httpapi.Config{Keeper: keeper, Store: st, Catalog: cat, Connect: h,
		ReconnectURL: func(c *tokenkeeper.Connection) string { u, _ := links.Reconnect(c); return u }})
	plain, key, err := apikey.Generate("client-test", []tokenkeeper.Scope{tokenkeeper.ScopeTokensRead, tokenkeeper.ScopeConnectionsWrite}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := st.CreateAPIKey(t.Context(), key); err != nil {
		t.Fatal(err)
	}
	return &server{URL: srv.URL, Key: plain.Reveal(), Provider: prov, Store: st}
}
