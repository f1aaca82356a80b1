package main

import (
	"bytes"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tokenkeeper/tokenkeeper"
	"github.com/tokenkeeper/tokenkeeper/internal/apikey"
	"github.com/tokenkeeper/tokenkeeper/internal/httpapi"
	"github.com/tokenkeeper/tokenkeeper/internal/oauth"
	"github.com/tokenkeeper/tokenkeeper/internal/providertest"
	"github.com/tokenkeeper/tokenkeeper/internal/refresh"
	"github.com/tokenkeeper/tokenkeeper/internal/sqlite"
	"github.com/tokenkeeper/tokenkeeper/internal/vault"
)

type catalog map[string]*tokenkeeper.Provider

func (c catalog) Provider(name string) (*tokenkeeper.Provider, bool) { p, ok := c[name]; return p, ok }
func (c catalog) Providers() []*tokenkeeper.Provider                 { return []*tokenkeeper.Provider{c["acme"]} }

// TestRun runs the example against a real tokenkeeper API in front of a
// fake provider: it gets a token through the client's TokenSource and uses
// it at the provider's API, after tokenkeeper refreshed an expired import.
func TestRun(t *testing.T) {
	t.Parallel()
	st, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "tk.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if err := st.Migrate(t.Context()); err != nil {
		t.Fatal(err)
	}
	k, _ := vault.GenerateKey()
	ring, _ := vault.NewRing(k)
	prov := providertest.New(providertest.Options{Rotate: true})
	t.Cleanup(prov.Close)
	cat := catalog{"acme": prov.Provider("acme")}
	keeper, err := refresh.New(refresh.Options{Store: st, Sealer: ring, Catalog: cat, Client: oauth.New(oauth.Options{HTTPClient: prov.Client()})})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(httpapi.New(httpapi.Config{Keeper: keeper, Store: st, Catalog: cat}))
	t.Cleanup(srv.Close)
	plain, key, _ := apikey.Generate("example", []tokenkeeper.Scope{tokenkeeper.ScopeTokensRead, tokenkeeper.ScopeConnectionsWrite}, time.Now())
	if err := st.CreateAPIKey(t.Context(), key); err != nil {
		t.Fatal(err)
	}
	g := prov.Grant("read")
	c, _, err := keeper.Link(t.Context(), tokenkeeper.LinkRequest{UserID: "u1", Provider: "acme",
		AccessToken: g.AccessToken, RefreshToken: g.RefreshToken, ExpiresAt: time.Now().Add(-time.Minute)})
	if err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"TOKENKEEPER_URL": srv.URL, "TOKENKEEPER_API_KEY": plain.Reveal()}
	var out bytes.Buffer
	if err := run(t.Context(), []string{"-connection", c.ID, "-get", prov.URL() + "/userinfo"}, func(k string) string { return env[k] }, &out); err != nil {
		t.Fatalf("run: %v\n%s", err, out.String())
	}
	if !strings.Contains(out.String(), "got a Bearer token") || !strings.Contains(out.String(), "200 OK") {
		t.Errorf("output:\n%s", out.String())
	}
	if prov.Refreshes() != 1 {
		t.Errorf("%d refreshes, want 1 (the expired import)", prov.Refreshes())
	}
	if strings.Contains(out.String(), g.AccessToken.Reveal()) {
		t.Error("the example printed a token")
	}
	if err := run(t.Context(), nil, func(string) string { return "" }, &out); err == nil {
		t.Error("run without -connection succeeded")
	}
}
