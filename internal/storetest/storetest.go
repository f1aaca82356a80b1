// Package storetest is the conformance suite of tokenkeeper.Store: every
// store (SQLite, PostgreSQL) runs Run against a real database, so that all of
// them honour the contract written in the domain package's store.go in the
// same way.
//
// The suite only uses the tokenkeeper.Store interface. Row values are built
// from a fixed base time (BaseTime), never from the wall clock. Import this
// package from _test.go files only.
package storetest

import (
	"crypto/rand"
	"maps"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/tokenkeeper/tokenkeeper"
)

// OpenFunc returns a fresh, migrated and empty store. It registers the
// store's cleanup (Close, removing files) with t.Cleanup.
type OpenFunc func(t *testing.T) tokenkeeper.Store

// Run runs the whole conformance suite. Every subtest calls open for a store
// of its own and runs in parallel with the others.
func Run(t *testing.T, open func(t *testing.T) tokenkeeper.Store) {
	groups := []struct {
		name  string
		tests map[string]func(*testing.T, OpenFunc)
	}{
		{"Connections", connectionTests},
		{"List", listTests},
		{"Save", saveTests},
		{"Lease", leaseTests},
		{"Claim", claimTests},
		{"History", historyTests},
		{"Accounts", accountTests},
		{"NamedLease", namedLeaseTests},
		{"Retention", retentionTests},
	}
	for _, g := range groups {
		t.Run(g.name, func(t *testing.T) {
			t.Parallel()
			for _, name := range slices.Sorted(maps.Keys(g.tests)) {
				test := g.tests[name]
				t.Run(name, func(t *testing.T) {
					t.Parallel()
					test(t, open)
				})
			}
		})
	}
}

// BaseTime is the suite's fixed "now": 2026-01-01T00:00:00Z. Tests derive
// every stored time from it.
func BaseTime() time.Time { return time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC) }

// NewConnection returns a valid connected connection as of now: random id,
// user and account, provider "acme", a token expiring in an hour, the next
// refresh in 50 minutes, random opaque bytes as sealed tokens, Version 0.
// now is truncated to milliseconds. mods are applied in order.
func NewConnection(now time.Time, mods ...func(*tokenkeeper.Connection)) *tokenkeeper.Connection {
	now = now.Truncate(time.Millisecond)
	c := &tokenkeeper.Connection{
		ID:                 tokenkeeper.NewID("conn_"),
		UserID:             tokenkeeper.NewID("user_"),
		Provider:           "acme",
		AccountID:          tokenkeeper.NewID("acct_"),
		Scopes:             []string{"read", "write"},
		Status:             tokenkeeper.StatusConnected,
		ExpiresAt:          now.Add(time.Hour),
		Lifetime:           time.Hour,
		LastRefreshedAt:    now,
		NextRefreshAt:      now.Add(50 * time.Minute),
		SealedAccessToken:  OpaqueBytes(48),
		SealedRefreshToken: OpaqueBytes(64),
		CreatedAt:          now,
		UpdatedAt:          now,
	}
	for _, mod := range mods {
		mod(c)
	}
	return c
}

// OpaqueBytes returns n random bytes, standing in for a sealed value.
func OpaqueBytes(n int) []byte {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic("storetest: crypto/rand failed: " + err.Error())
	}
	return b
}

// fixture is what most tests start from: a store, a context and the base time.
type fixture struct {
	t   *testing.T
	s   tokenkeeper.Store
	now time.Time
}

func setup(t *testing.T, open OpenFunc) *fixture {
	t.Helper()
	s := open(t)
	if s == nil {
		t.Fatal("open returned a nil store")
	}
	f := &fixture{t: t, s: s, now: BaseTime()}
	cs, _, err := s.ListConnections(t.Context(), tokenkeeper.ConnectionFilter{})
	if err != nil {
		t.Fatalf("ListConnections on a new store: %v", err)
	}
	if len(cs) != 0 || len(f.events()) != 0 {
		t.Fatal("open returned a store that is not empty")
	}
	return f
}

// create stores a new connection built by NewConnection(f.now, mods...) and
// returns it with the version the store assigned.
func (f *fixture) create(mods ...func(*tokenkeeper.Connection)) *tokenkeeper.Connection {
	f.t.Helper()
	c := NewConnection(f.now, mods...)
	if err := f.s.CreateConnection(f.t.Context(), c, nil); err != nil {
		f.t.Fatalf("CreateConnection: %v", err)
	}
	return c
}

// get reads a connection that must exist.
func (f *fixture) get(id string) *tokenkeeper.Connection {
	f.t.Helper()
	c, err := f.s.GetConnection(f.t.Context(), id)
	if err != nil {
		f.t.Fatalf("GetConnection(%s): %v", id, err)
	}
	return c
}

// events lists every stored event.
func (f *fixture) events() []tokenkeeper.StoredEvent {
	f.t.Helper()
	evs, err := f.s.ListEvents(f.t.Context(), 0, 1000)
	if err != nil {
		f.t.Fatalf("ListEvents: %v", err)
	}
	return evs
}

// attempts lists a connection's stored attempts.
func (f *fixture) attempts(id string) []tokenkeeper.RefreshAttempt {
	f.t.Helper()
	as, err := f.s.ListAttempts(f.t.Context(), id, 1000)
	if err != nil {
		f.t.Fatalf("ListAttempts: %v", err)
	}
	return as
}

// equal fails the test when want and got differ (see Diff).
func equal(t *testing.T, what string, want, got any) {
	t.Helper()
	if d := Diff(want, got); d != "" {
		t.Errorf("%s differs:\n%s", what, d)
	}
}

// claimConcurrently runs one goroutine per owner, each calling claim for
// that owner until it returns nothing, and returns which owner claimed each
// id. An id claimed twice, or a failing claim, fails the test: concurrent
// claimers must never get the same row.
func claimConcurrently(t *testing.T, owners []string, claim func(owner string) ([]string, error)) map[string]string {
	t.Helper()
	var mu sync.Mutex
	seen := map[string]string{}
	var wg sync.WaitGroup
	for _, owner := range owners {
		wg.Go(func() {
			for {
				ids, err := claim(owner)
				if err != nil {
					t.Errorf("claim by %s: %v", owner, err)
					return
				}
				if len(ids) == 0 {
					return
				}
				mu.Lock()
				for _, id := range ids {
					if prev, dup := seen[id]; dup {
						t.Errorf("%s claimed by %s and %s", id, prev, owner)
					}
					seen[id] = owner
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return seen
}

// Mod helpers for NewConnection.

func withUser(u string) func(*tokenkeeper.Connection) {
	return func(c *tokenkeeper.Connection) { c.UserID = u }
}

func withProvider(p string) func(*tokenkeeper.Connection) {
	return func(c *tokenkeeper.Connection) { c.Provider = p }
}

func withAccount(a string) func(*tokenkeeper.Connection) {
	return func(c *tokenkeeper.Connection) { c.AccountID = a }
}

func withStatus(s tokenkeeper.Status) func(*tokenkeeper.Connection) {
	return func(c *tokenkeeper.Connection) { c.Status = s }
}

func withNext(t time.Time) func(*tokenkeeper.Connection) {
	return func(c *tokenkeeper.Connection) { c.NextRefreshAt = t }
}
