package bench

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tokenkeeper/tokenkeeper"
	"github.com/tokenkeeper/tokenkeeper/internal/oauth"
	"github.com/tokenkeeper/tokenkeeper/internal/postgres"
	"github.com/tokenkeeper/tokenkeeper/internal/refresh"
	"github.com/tokenkeeper/tokenkeeper/internal/sqlite"
	"github.com/tokenkeeper/tokenkeeper/internal/vault"
)

// The database kinds.
const (
	dbSQLite   = "sqlite"
	dbPostgres = "postgres"
)

// migrator is a store that can create its schema.
type migrator interface {
	tokenkeeper.Store
	Migrate(ctx context.Context) error
}

// database is a fresh, migrated database: an SQLite file in the run's
// directory, or a PostgreSQL schema of its own.
type database struct {
	kind  string
	store migrator
	// url opens the same database in another process (serve).
	url string
	// path is the SQLite file ("" for PostgreSQL).
	path string
	// schema is the PostgreSQL schema ("" for SQLite).
	schema string
	drop   func() error
}

// openDB creates a database of kind; name goes into the SQLite file name.
func (h *harness) openDB(ctx context.Context, kind, name string) (*database, error) {
	d := &database{kind: kind}
	switch kind {
	case dbSQLite:
		h.dbs++
		d.path = filepath.Join(h.dir, fmt.Sprintf("%s-%d.db", name, h.dbs))
		d.url = "sqlite:" + d.path
		s, err := sqlite.Open(ctx, d.path, sqlite.Options{})
		if err != nil {
			return nil, err
		}
		d.store = s
		d.drop = func() error {
			err := s.Close()
			for _, suffix := range []string{"", "-wal", "-shm"} {
				_ = os.Remove(d.path + suffix)
			}
			return err
		}
	case dbPostgres:
		var b [6]byte
		_, _ = rand.Read(b[:])
		d.schema = "tkbench_" + hex.EncodeToString(b[:])
		if err := pgExec(ctx, h.o.PostgresURL, "CREATE SCHEMA "+d.schema); err != nil {
			return nil, fmt.Errorf("create schema: %w", err)
		}
		u, err := withSearchPath(h.o.PostgresURL, d.schema)
		if err != nil {
			return nil, err
		}
		d.url = u
		s, err := postgres.Open(ctx, u, postgres.Options{})
		if err != nil {
			_ = pgExec(context.WithoutCancel(ctx), h.o.PostgresURL, "DROP SCHEMA "+d.schema+" CASCADE")
			return nil, err
		}
		d.store = s
		d.drop = func() error {
			s.Close()
			return pgExec(context.Background(), h.o.PostgresURL, "DROP SCHEMA "+d.schema+" CASCADE")
		}
	default:
		return nil, fmt.Errorf("unknown database kind %q", kind)
	}
	if err := d.store.Migrate(ctx); err != nil {
		_ = d.drop()
		return nil, fmt.Errorf("migrate %s: %w", kind, err)
	}
	return d, nil
}

// Close closes the store and removes the SQLite files or drops the
// PostgreSQL schema.
func (d *database) Close() error { return d.drop() }

// withSearchPath adds search_path=schema to a postgres:// URL.
func withSearchPath(base, schema string) (string, error) {
	if !strings.HasPrefix(base, "postgres://") && !strings.HasPrefix(base, "postgresql://") {
		return base + " search_path=" + schema, nil
	}
	u, err := url.Parse(base)
	if err != nil {
		return "", fmt.Errorf("parse the PostgreSQL URL: %T", err) // the URL may hold a password
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String(), nil
}

// pgExec runs one statement on a connection of its own.
func pgExec(ctx context.Context, connString, sql string) error {
	conn, err := pgx.Connect(ctx, connString)
	if err != nil {
		return fmt.Errorf("connect to PostgreSQL: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	_, err = conn.Exec(ctx, sql)
	return err
}

// catalogMap is a tokenkeeper.Catalog over a fixed set of providers.
type catalogMap map[string]*tokenkeeper.Provider

func (c catalogMap) Provider(name string) (*tokenkeeper.Provider, bool) {
	p, ok := c[name]
	if !ok {
		return nil, false
	}
	cp := *p
	return &cp, true
}

func (c catalogMap) Providers() []*tokenkeeper.Provider {
	out := make([]*tokenkeeper.Provider, 0, len(c))
	for _, p := range c {
		cp := *p
		out = append(out, &cp)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// engine is tokenkeeper's refresh engine wired as serve wires it: a
// refresher with the oauth client and a provider gate (no rate limit) on a
// store, with a vault key ring.
type engine struct {
	store   tokenkeeper.Store
	ring    *vault.Ring
	catalog catalogMap
	keeper  *refresh.Refresher
	gate    *refresh.ProviderGate
	clock   tokenkeeper.Clock
	policy  tokenkeeper.Policy
}

// newEngine wires an engine on store for the providers in cat.
func newEngine(store tokenkeeper.Store, cat catalogMap, clk tokenkeeper.Clock) (*engine, error) {
	key, err := vault.GenerateKey()
	if err != nil {
		return nil, err
	}
	ring, err := vault.NewRing(key)
	if err != nil {
		return nil, err
	}
	e := &engine{store: store, ring: ring, catalog: cat, clock: clk, policy: tokenkeeper.DefaultPolicy()}
	log := discardLogger()
	e.gate = refresh.NewProviderGate(refresh.GateOptions{Clock: clk, Catalog: cat})
	client := oauth.New(oauth.Options{Timeout: 15 * time.Second, Logger: log, Now: clk.Now, UserAgent: "tokenkeeper-bench"})
	e.keeper, err = refresh.New(refresh.Options{
		Store: store, Sealer: ring, Catalog: cat, Client: client, Gate: e.gate,
		Clock: clk, Logger: log, UserHash: func(string) string { return "u_bench" },
	})
	if err != nil {
		return nil, err
	}
	return e, nil
}

// seedSpec describes one connection to store directly: linked at linkedAt
// with an access token expiring at expiresAt that lived lifetime.
type seedSpec struct {
	provider  string
	lifetime  time.Duration
	expiresAt time.Time
	linkedAt  time.Time
	refresh   tokenkeeper.Secret
	grant     int
}

// seeded is a stored connection and its grant at the fake provider.
type seeded struct {
	id    string
	grant int
}

// seed stores connections through the policy's Link (so next_refresh_at is
// what tokenkeeper computes) and the store, with sealed tokens, without
// the refresher's lookups.
func (e *engine) seed(ctx context.Context, specs []seedSpec) ([]seeded, error) {
	out := make([]seeded, len(specs))
	for i, sp := range specs {
		prov, ok := e.catalog.Provider(sp.provider)
		if !ok {
			return nil, fmt.Errorf("seed: unknown provider %q", sp.provider)
		}
		base := &tokenkeeper.Connection{ID: tokenkeeper.NewID("conn_"), UserID: fmt.Sprintf("user-%07d", i), Provider: sp.provider}
		tok := &tokenkeeper.Token{AccessToken: tokenkeeper.Secret(newToken("at_")), RefreshToken: sp.refresh, ExpiresAt: sp.expiresAt, Lifetime: sp.lifetime, Scopes: []string{"read"}}
		c, _ := e.policy.Link(base, prov, tok, sp.linkedAt, randFloat())
		var err error
		if c.SealedAccessToken, err = e.ring.Seal([]byte(tok.AccessToken.Reveal()), tokenkeeper.AdditionalData(c.ID, tokenkeeper.FieldAccessToken)); err != nil {
			return nil, err
		}
		if c.SealedRefreshToken, err = e.ring.Seal([]byte(sp.refresh.Reveal()), tokenkeeper.AdditionalData(c.ID, tokenkeeper.FieldRefreshToken)); err != nil {
			return nil, err
		}
		if err := e.store.CreateConnection(ctx, c, nil); err != nil {
			return nil, fmt.Errorf("seed connection %d: %w", i, err)
		}
		out[i] = seeded{id: c.ID, grant: sp.grant}
	}
	return out, nil
}

// seedDue stores n connections of provider name, due now (their access
// tokens expire in five minutes, inside the ten-minute margin), whose
// refreshed tokens live as long as the fake provider's default lifetime.
func (e *engine) seedDue(ctx context.Context, prov *Provider, name string, n int) ([]seeded, error) {
	now := e.clock.Now()
	specs := make([]seedSpec, n)
	for i := range specs {
		g, rt := prov.Grant(0)
		specs[i] = seedSpec{provider: name, lifetime: time.Hour, expiresAt: now.Add(5 * time.Minute), linkedAt: now, refresh: rt, grant: g}
	}
	return e.seed(ctx, specs)
}
