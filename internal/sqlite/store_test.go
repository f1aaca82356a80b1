package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"path/filepath"
	"testing"

	"github.com/tokenkeeper/tokenkeeper"
	"github.com/tokenkeeper/tokenkeeper/internal/storetest"
)

// openStore opens a store on a new file in a temporary directory, without
// migrating it, and closes it when the test ends.
func openStore(t testing.TB) (*Store, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "tokenkeeper.db")
	s, err := Open(t.Context(), path, Options{})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s, path
}

// setup returns a migrated, empty store.
func setup(t testing.TB) *Store {
	t.Helper()
	s, _ := openStore(t)
	if err := s.Migrate(t.Context()); err != nil {
		t.Fatalf("Migrate: %v", err)
	}
	return s
}

func TestConformance(t *testing.T) {
	t.Parallel()
	storetest.Run(t, func(t *testing.T) tokenkeeper.Store { return setup(t) })
}

// pragma reads one pragma through db.
func pragma(t *testing.T, db *sql.DB, name string) string {
	t.Helper()
	var v string
	if err := db.QueryRowContext(t.Context(), "PRAGMA "+name).Scan(&v); err != nil {
		t.Fatalf("PRAGMA %s: %v", name, err)
	}
	return v
}

func TestPragmas(t *testing.T) {
	t.Parallel()
	s := setup(t)
	tests := []struct {
		pool string
		db   *sql.DB
		want map[string]string
	}{
		{"writer", s.w, map[string]string{"journal_mode": "wal", "busy_timeout": "5000", "foreign_keys": "1", "synchronous": "1", "query_only": "0"}},
		{"reader", s.r, map[string]string{"journal_mode": "wal", "busy_timeout": "5000", "query_only": "1"}},
	}
	for _, tt := range tests {
		t.Run(tt.pool, func(t *testing.T) {
			for name, want := range tt.want {
				if got := pragma(t, tt.db, name); got != want {
					t.Errorf("PRAGMA %s = %s, want %s", name, got, want)
				}
			}
		})
	}
	if n := s.w.Stats().MaxOpenConnections; n != 1 {
		t.Errorf("writer pool allows %d connections, want 1", n)
	}
}

// TestWriterBeginsImmediate proves that write transactions take the write
// lock when they begin: while one is open, a second connection to the file
// cannot begin a write, even though the first has not written yet.
func TestWriterBeginsImmediate(t *testing.T) {
	t.Parallel()
	s, path := openStore(t)
	other, err := sql.Open("sqlite", withParams("file:"+escapePath(path), "_pragma=busy_timeout(0)&_txlock=immediate"))
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	tx, err := s.w.BeginTx(t.Context(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	if _, err := other.BeginTx(t.Context(), nil); err == nil {
		t.Fatal("a second writer began while the store's write transaction was open")
	} else if tokenkeeper.ErrorCode(mapErr(err)) != tokenkeeper.CodeUnavailable {
		t.Errorf("second writer's error %v maps to %s, want %s", err, tokenkeeper.ErrorCode(mapErr(err)), tokenkeeper.CodeUnavailable)
	}
}

func TestReadersAreReadOnly(t *testing.T) {
	t.Parallel()
	s := setup(t)
	if _, err := s.r.ExecContext(t.Context(), `INSERT INTO leases (name, owner, until) VALUES ('x', 'y', 1)`); err == nil {
		t.Fatal("a reader connection wrote")
	}
}

func TestOpenDoesNotMigrate(t *testing.T) {
	t.Parallel()
	s, _ := openStore(t)
	ctx := t.Context()
	current, latest, err := s.MigrationStatus(ctx)
	if err != nil {
		t.Fatalf("MigrationStatus: %v", err)
	}
	if current != 0 || latest < 1 {
		t.Fatalf("MigrationStatus before Migrate = %d, %d; want 0 and the latest", current, latest)
	}
	if _, err := s.GetConnection(ctx, "conn_x"); err == nil || errors.Is(err, tokenkeeper.ErrNotFound) {
		t.Errorf("GetConnection on an unmigrated database = %v, want a missing-table error", err)
	}
	for range 2 { // the second run has nothing to do
		if err := s.Migrate(ctx); err != nil {
			t.Fatalf("Migrate: %v", err)
		}
	}
	if current, latest, err = s.MigrationStatus(ctx); err != nil || current != latest {
		t.Errorf("MigrationStatus after Migrate = %d, %d, %v; want current == latest", current, latest, err)
	}
}

// TestReopen proves that the data and the schema version live in the file.
func TestReopen(t *testing.T) {
	t.Parallel()
	s, path := openStore(t)
	ctx := t.Context()
	if err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	c := storetest.NewConnection(storetest.BaseTime())
	if err := s.CreateConnection(ctx, c, nil); err != nil {
		t.Fatal(err)
	}
	for _, dsn := range []string{path, "sqlite:" + path, "file:" + path + "?mode=rw"} {
		t.Run(dsn, func(t *testing.T) {
			again, err := Open(context.WithoutCancel(ctx), dsn, Options{})
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			defer again.Close()
			if current, latest, err := again.MigrationStatus(ctx); err != nil || current != latest {
				t.Errorf("MigrationStatus = %d, %d, %v; want current == latest", current, latest, err)
			}
			got, err := again.GetConnection(ctx, c.ID)
			if err != nil {
				t.Fatalf("GetConnection: %v", err)
			}
			if d := storetest.Diff(c, got); d != "" {
				t.Errorf("connection differs after reopening:\n%s", d)
			}
		})
	}
}
