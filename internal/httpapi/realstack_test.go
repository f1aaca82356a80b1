package httpapi

import (
	"context"
	"sort"
	"testing"
	"time"

	"github.com/tokenkeeper/tokenkeeper"
	"github.com/tokenkeeper/tokenkeeper/internal/oauth"
	"github.com/tokenkeeper/tokenkeeper/internal/providertest"
	"github.com/tokenkeeper/tokenkeeper/internal/refresh"
	"github.com/tokenkeeper/tokenkeeper/internal/vault"
)

// providerCatalog is a tokenkeeper.Catalog over fixed providers.
type providerCatalog map[string]*tokenkeeper.Provider

func (c providerCatalog) Provider(name string) (*tokenkeeper.Provider, bool) {
	p, ok := c[name]
	if !ok {
		return nil, false
	}
	cp := *p
	return &cp, true
}

func (c providerCatalog) Providers() []*tokenkeeper.Provider {
	var out []*tokenkeeper.Provider
	for _, p := range c {
		cp := *p
		out = append(out, &cp)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// stack is an env whose Keeper and Sweeper are a real refresher (real clock,
// real SQLite store, AES-GCM ring) refreshing against an in-process provider
// named acme.
type stack struct {
	*env
	provider  *providertest.Server
	refresher *refresh.Refresher
	catalog   providerCatalog
	// attempts receives every attempt at the provider (dropped when full).
	attempts chan tokenkeeper.RefreshAttempt
}

// setupReal returns a stack; mods adjust the server's Config after the
// refresher is wired in.
func setupReal(t *testing.T, mods ...func(*Config)) *stack {
	t.Helper()
	s := &stack{provider: providertest.New(providertest.Options{Rotate: true}), attempts: make(chan tokenkeeper.RefreshAttempt, 4096)}
	t.Cleanup(s.provider.Close)
	s.catalog = providerCatalog{"acme": s.provider.Provider("acme")}
	key, err := vault.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	ring, err := vault.NewRing(key)
	if err != nil {
		t.Fatal(err)
	}
	wire := func(c *Config) {
		r, err := refresh.New(refresh.Options{
			Store: c.Store, Sealer: ring, Catalog: s.catalog, Logger: c.Logger,
			Client:    oauth.New(oauth.Options{Timeout: 5 * time.Second, Logger: c.Logger}),
			LeasePoll: 5 * time.Millisecond,
			UserHash:  func(string) string { return "user-hash" },
			OnAttempt: func(_ string, a tokenkeeper.RefreshAttempt) {
				select {
				case s.attempts <- a:
				default:
				}
			},
		})
		if err != nil {
			t.Fatal(err)
		}
		s.refresher = r
		c.Keeper, c.Sweeper, c.Catalog = r, r, s.catalog
	}
	s.env = setup(t, append([]func(*Config){wire}, mods...)...)
	return s
}

// link stores a connection for a new grant at the provider whose access
// token expires at expiresAt (in the past: due now), and returns it with
// the grant's tokens.
func (s *stack) link(user string, expiresAt time.Time) (*tokenkeeper.Connection, tokenkeeper.Token) {
	s.t.Helper()
	g := s.provider.Grant("read")
	c, _, err := s.refresher.Link(context.Background(), tokenkeeper.LinkRequest{
		UserID: user, Provider: "acme", AccessToken: g.AccessToken, RefreshToken: g.RefreshToken, ExpiresAt: expiresAt,
	})
	if err != nil {
		s.t.Fatalf("link %s: %v", user, err)
	}
	return c, g
}
