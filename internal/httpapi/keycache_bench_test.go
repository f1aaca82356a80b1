package httpapi

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"github.com/tokenkeeper/tokenkeeper"
	"github.com/tokenkeeper/tokenkeeper/internal/apikey"
	"github.com/tokenkeeper/tokenkeeper/internal/oauth"
	"github.com/tokenkeeper/tokenkeeper/internal/providertest"
	"github.com/tokenkeeper/tokenkeeper/internal/refresh"
	"github.com/tokenkeeper/tokenkeeper/internal/sqlite"
	"github.com/tokenkeeper/tokenkeeper/internal/vault"
)

// BenchmarkTokenEndpoint is GET /v1/connections/{id}/token of a fresh token
// through the whole server: API key check, the real refresher (one SQLite
// read and one AES-GCM open), JSON answer. "no cache" reads the API key from
// the store on every request (api_key_cache_ttl 0); "cache 5s" is serve's
// default. Each runs serially and with GOMAXPROCS clients in parallel.
func BenchmarkTokenEndpoint(b *testing.B) {
	for _, mode := range []string{"serial", "parallel"} {
		for _, bc := range []struct {
			name string
			ttl  time.Duration
		}{{"no cache", 0}, {"cache 5s", 5 * time.Second}} {
			b.Run(mode+"/"+bc.name, func(b *testing.B) {
				srv, key, ids := benchTokenServer(b, bc.ttl, 100)
				get := func(i int) {
					req := httptest.NewRequest("GET", "http://127.0.0.1:8080/v1/connections/"+ids[i%len(ids)]+"/token", nil)
					req.Header.Set("Authorization", "Bearer "+key)
					rec := httptest.NewRecorder()
					srv.ServeHTTP(rec, req)
					if rec.Code != http.StatusOK {
						b.Errorf("status %d: %s", rec.Code, rec.Body)
					}
				}
				b.ReportAllocs()
				if mode == "serial" {
					for i := 0; b.Loop(); i++ {
						get(i)
					}
					return
				}
				b.RunParallel(func(pb *testing.PB) {
					for i := 0; pb.Next(); i++ {
						get(i)
					}
				})
			})
		}
	}
}

// benchTokenServer returns a server over a fresh SQLite store with n
// connections holding one-hour tokens, read by the real refresher, and a
// tokens:read API key; ttl is its API key cache TTL.
func benchTokenServer(b *testing.B, ttl time.Duration, n int) (*Server, string, []string) {
	b.Helper()
	ctx := b.Context()
	store, err := sqlite.Open(ctx, filepath.Join(b.TempDir(), "tk.db"), sqlite.Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = store.Close() })
	if err := store.Migrate(ctx); err != nil {
		b.Fatal(err)
	}
	prov := providertest.New(providertest.Options{})
	b.Cleanup(prov.Close)
	cat := providerCatalog{"acme": prov.Provider("acme")}
	secret, err := vault.GenerateKey()
	if err != nil {
		b.Fatal(err)
	}
	ring, err := vault.NewRing(secret)
	if err != nil {
		b.Fatal(err)
	}
	r, err := refresh.New(refresh.Options{
		Store: store, Sealer: ring, Catalog: cat,
		Client:   oauth.New(oauth.Options{Timeout: 5 * time.Second}),
		UserHash: func(string) string { return "user-hash" },
	})
	if err != nil {
		b.Fatal(err)
	}
	ids := make([]string, n)
	for i := range ids {
		c, _, err := r.Link(ctx, tokenkeeper.LinkRequest{
			UserID: fmt.Sprintf("user-%d", i), Provider: "acme",
			AccessToken: "at-bench", RefreshToken: "rt-bench", ExpiresAt: time.Now().Add(time.Hour),
		})
		if err != nil {
			b.Fatal(err)
		}
		ids[i] = c.ID
	}
	plain, k, err := apikey.Generate("bench", []tokenkeeper.Scope{tokenkeeper.ScopeTokensRead}, time.Now())
	if err != nil {
		b.Fatal(err)
	}
	if err := store.CreateAPIKey(ctx, k); err != nil {
		b.Fatal(err)
	}
	srv := New(Config{Keeper: r, Store: store, Catalog: cat, APIKeyCacheTTL: ttl})
	return srv, plain.Reveal(), ids
}
