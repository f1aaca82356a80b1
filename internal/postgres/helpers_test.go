package postgres

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tokenkeeper/tokenkeeper/internal/storetest"
	"github.com/tokenkeeper/tokenkeeper/internal/testenv"
)

// newSchema creates an empty schema tk_<random> in the test database, drops
// it (with everything in it) when the test ends, and returns the URL of the
// database with search_path set to it. Every store a test opens on that URL
// sees only that schema, so parallel tests and packages never share rows.
func newSchema(tb testing.TB) string {
	tb.Helper()
	base := testenv.PostgresURL(tb)
	var b [8]byte
	rand.Read(b[:])
	schema := "tk_" + hex.EncodeToString(b[:])
	exec(tb, base, `CREATE SCHEMA `+schema)
	tb.Cleanup(func() { exec(tb, base, `DROP SCHEMA `+schema+` CASCADE`) })
	return withSearchPath(tb, base, schema)
}

// withSearchPath adds search_path=schema to a postgres:// URL or a
// keyword/value connection string; pgx sends it as a run-time parameter.
func withSearchPath(tb testing.TB, base, schema string) string {
	tb.Helper()
	if !strings.HasPrefix(base, "postgres://") && !strings.HasPrefix(base, "postgresql://") {
		return base + " search_path=" + schema
	}
	u, err := url.Parse(base)
	if err != nil {
		tb.Fatalf("parse TOKENKEEPER_TEST_POSTGRES_URL: %T", err) // the URL may hold a password
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

// exec runs one statement on its own connection.
func exec(tb testing.TB, connString, sql string, args ...any) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	conn, err := pgx.Connect(ctx, connString)
	if err != nil {
		tb.Fatalf("connect to the test database: %v", err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, sql, args...); err != nil {
		tb.Fatalf("%s: %v", sql, err)
	}
}

// open opens a store on url, closed when the test ends.
func open(tb testing.TB, url string, opts Options) *Store {
	tb.Helper()
	s, err := Open(context.Background(), url, opts)
	if err != nil {
		tb.Fatalf("Open: %v", err)
	}
	tb.Cleanup(func() { s.Close() })
	return s
}

// setup returns a migrated store on a schema of its own.
func setup(tb testing.TB) *Store {
	tb.Helper()
	s := open(tb, newSchema(tb), Options{})
	if err := s.Migrate(context.Background()); err != nil {
		tb.Fatalf("Migrate: %v", err)
	}
	return s
}

// insertConnections bulk-inserts n connected connections of provider
// "acme" with ids conn_00000001…: the first due ones have next_refresh_at
// at now minus 1 ms per row (so conn_00000001 is the latest due), the others
// are due in a year. With analyze it updates the planner's statistics. It
// uses SQL directly because the API would take minutes for a million rows.
func insertConnections(tb testing.TB, s *Store, n, due int, now time.Time, analyze bool) {
	tb.Helper()
	_, err := s.pool.Exec(context.Background(), `INSERT INTO connections (id, user_id, provider, account_id,
			scopes, status, expires_at, next_refresh_at, version, access_token, refresh_token, created_at, updated_at)
		SELECT 'conn_' || lpad(g::text, 8, '0'), 'user_' || g, 'acme', '', '{read}', 'connected',
			$1::timestamptz + interval '1 hour',
			CASE WHEN g <= $3 THEN $1::timestamptz - g * interval '1 millisecond'
			     ELSE $1::timestamptz + interval '365 days' END,
			1, '\x00'::bytea, '\x01'::bytea, $1, $1
		FROM generate_series(1, $2::int) AS g`, ts(now), n, due)
	if err != nil {
		tb.Fatalf("insert %d connections: %v", n, err)
	}
	if !analyze {
		return
	}
	if _, err := s.pool.Exec(context.Background(), `ANALYZE connections`); err != nil {
		tb.Fatalf("analyze: %v", err)
	}
}

// baseTime is the tests' fixed "now", the conformance suite's BaseTime.
func baseTime() time.Time { return storetest.BaseTime() }
