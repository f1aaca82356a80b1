package refresh

import (
	"bytes"
	"context"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/tokenkeeper/tokenkeeper"
	"github.com/tokenkeeper/tokenkeeper/internal/oauth"
	"github.com/tokenkeeper/tokenkeeper/internal/providertest"
	"github.com/tokenkeeper/tokenkeeper/internal/sqlite"
	"github.com/tokenkeeper/tokenkeeper/internal/testkit"
	"github.com/tokenkeeper/tokenkeeper/internal/vault"
)

type staticCatalog = testkit.Catalog

type syncBuffer = testkit.SyncBuffer

// fixture is a refresher on a real SQLite file against an in-process provider.
type fixture struct {
	t        *testing.T
	store    *sqlite.Store
	dbPath   string
	ring     *vault.Ring
	provider *providertest.Server
	catalog  staticCatalog
	keeper   *Refresher
	logs     *syncBuffer
	clock    tokenkeeper.Clock
}

type fixtureOptions struct {
	provider providertest.Options
	clock    tokenkeeper.Clock
	gate     bool
	policy   *tokenkeeper.Policy
}

func setup(t *testing.T, o fixtureOptions) *fixture {
	t.Helper()
	ctx := context.Background()
	f := &fixture{t: t, logs: &syncBuffer{}, clock: o.clock}
	if f.clock == nil {
		f.clock = realClock{}
	}
	if o.provider.Now == nil {
		o.provider.Now = f.clock.Now
	}
	f.dbPath = filepath.Join(t.TempDir(), "tokenkeeper.db")
	st, err := sqlite.Open(ctx, f.dbPath, sqlite.Options{})
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
	if f.ring, err = vault.NewRing(key); err != nil {
		t.Fatal(err)
	}
	f.provider = providertest.New(o.provider)
	t.Cleanup(f.provider.Close)
	f.catalog = staticCatalog{"acme": f.provider.Provider("acme")}
	f.keeper = f.newRefresher(o)
	return f
}

// newRefresher returns another refresher on the same database: another
// process, as far as leases are concerned.
func (f *fixture) newRefresher(o fixtureOptions) *Refresher {
	f.t.Helper()
	logger := slog.New(slog.NewTextHandler(f.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	opts := Options{
		Store: f.store, Sealer: f.ring, Catalog: f.catalog,
		Client: oauth.New(oauth.Options{Timeout: 5 * time.Second, Logger: logger, Now: f.clock.Now}),
		Clock:  f.clock, Logger: logger, Policy: o.policy,
		LeasePoll: 5 * time.Millisecond,
		UserHash:  func(u string) string { return "hash-of-user" },
	}
	if o.gate {
		opts.Gate = NewProviderGate(GateOptions{Clock: f.clock, Catalog: f.catalog})
	}
	r, err := New(opts)
	if err != nil {
		f.t.Fatal(err)
	}
	return r
}

// refresherWith returns another refresher (another process, as far as
// leases are concerned) on the fixture's keys and catalog, with o's store
// (the fixture's when nil), lease, gate and clock, and a token client with
// a 5 s timeout unless o names one.
func (f *fixture) refresherWith(o Options) *Refresher {
	f.t.Helper()
	if o.Store == nil {
		o.Store = f.store
	}
	o.Sealer, o.Catalog = f.ring, f.catalog
	if o.Client == nil {
		o.Client = oauth.New(oauth.Options{Timeout: 5 * time.Second})
	}
	r, err := New(o)
	if err != nil {
		f.t.Fatal(err)
	}
	return r
}

// link imports a grant minted at the provider; expiresIn is what the
// application claims about the access token.
func (f *fixture) link(user string, expiresIn time.Duration) (*tokenkeeper.Connection, tokenkeeper.Token) {
	f.t.Helper()
	g := f.provider.Grant("read")
	c, created, err := f.keeper.Link(context.Background(), tokenkeeper.LinkRequest{
		UserID: user, Provider: "acme", AccessToken: g.AccessToken, RefreshToken: g.RefreshToken, ExpiresIn: expiresIn,
	})
	if err != nil || !created {
		f.t.Fatalf("link: created=%v err=%v", created, err)
	}
	return c, g
}

func (f *fixture) get(id string) *tokenkeeper.Connection {
	f.t.Helper()
	c, err := f.store.GetConnection(context.Background(), id)
	if err != nil {
		f.t.Fatal(err)
	}
	return c
}

func (f *fixture) events() []tokenkeeper.EventType {
	f.t.Helper()
	evs, err := f.store.ListEvents(context.Background(), 0, 1000)
	if err != nil {
		f.t.Fatal(err)
	}
	var out []tokenkeeper.EventType
	for _, e := range evs {
		out = append(out, e.Type)
	}
	return out
}

// expire moves a connection's expiry into the past, as if time had passed.
func (f *fixture) expire(id string) {
	f.t.Helper()
	c := f.get(id)
	c.ExpiresAt = f.clock.Now().Add(-time.Second)
	if err := f.store.SaveConnection(context.Background(), tokenkeeper.Write{Connection: c}); err != nil {
		f.t.Fatal(err)
	}
}

func (f *fixture) assertNoPlaintext(secrets ...tokenkeeper.Secret) {
	f.t.Helper()
	logs := f.logs.String()
	for _, s := range secrets {
		if s.IsZero() {
			continue
		}
		if bytes.Contains([]byte(logs), []byte(s.Reveal())) {
			f.t.Errorf("a token appears in the logs")
		}
	}
}
