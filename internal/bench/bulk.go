package bench

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"time"

	"github.com/jackc/pgx/v5"
	_ "modernc.org/sqlite" // the "sqlite" database/sql driver, for bulk seeding
)

// Plaintext token sizes assumed for the bulk rows: a Google access token is
// about 200 bytes, its refresh token about 100.
const (
	bulkAccessBytes  = 200
	bulkRefreshBytes = 100
)

// bulkInsert adds n connected connections of provider "bench" that are not
// due for days (next_refresh_at one day and more after now, a second apart),
// with random ids and sealed-token-sized random values, in one statement.
// It is how the scale part builds large tables in seconds; the rows are
// never opened, only claimed around and counted.
func (h *harness) bulkInsert(ctx context.Context, db *database, e *engine, n int, now time.Time) error {
	if n <= 0 {
		return nil
	}
	access, err := e.ring.Seal(make([]byte, bulkAccessBytes), []byte("size"))
	if err != nil {
		return err
	}
	refresh, err := e.ring.Seal(make([]byte, bulkRefreshBytes), []byte("size"))
	if err != nil {
		return err
	}
	ms := now.UnixMilli()
	switch db.kind {
	case dbSQLite:
		conn, err := sql.Open("sqlite", "file:"+db.path+"?_pragma=busy_timeout(10000)&_pragma=synchronous(off)&_pragma=cache_size(-262144)")
		if err != nil {
			return err
		}
		defer conn.Close()
		_, err = conn.ExecContext(ctx, `WITH RECURSIVE g(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM g WHERE i < ?1)
			INSERT INTO connections (id, user_id, provider, account_id, scopes, status, expires_at, lifetime_ms,
				last_refreshed_at, next_refresh_at, version, access_token, refresh_token, created_at, updated_at)
			SELECT 'conn_' || lower(hex(randomblob(13))), 'user_' || lower(hex(randomblob(10))), 'bench', '', '["read"]', 'connected',
				?2 + 86400000 + i * 1000 + 600000, 5184000000, ?2, ?2 + 86400000 + i * 1000, 1,
				randomblob(?3), randomblob(?4), ?2, ?2
			FROM g`, n, ms, len(access), len(refresh))
		return err
	case dbPostgres:
		conn, err := pgx.Connect(ctx, db.url)
		if err != nil {
			return err
		}
		defer conn.Close(context.WithoutCancel(ctx))
		base := time.UnixMilli(ms).UTC()
		_, err = conn.Exec(ctx, `INSERT INTO connections (id, user_id, provider, account_id, scopes, status, expires_at, lifetime_ms,
				last_refreshed_at, next_refresh_at, version, access_token, refresh_token, created_at, updated_at)
			SELECT 'conn_' || substr(md5(random()::text || g::text), 1, 26), 'user_' || substr(md5(g::text), 1, 20), 'bench', '', '{read}', 'connected',
				$2::timestamptz + interval '1 day' + g * interval '1 second' + interval '10 minutes', 5184000000, $2,
				$2::timestamptz + interval '1 day' + g * interval '1 second', 1,
				substring(decode(repeat(md5(g::text), 40), 'hex') from 1 for $3::int),
				substring(decode(repeat(md5(g::text || 'r'), 40), 'hex') from 1 for $4::int), $2, $2
			FROM generate_series(1, $1::int) AS g`, n, base, len(access), len(refresh))
		if err != nil {
			return err
		}
		_, err = conn.Exec(ctx, `ANALYZE connections`)
		return err
	}
	return fmt.Errorf("bulk insert: unknown database kind %q", db.kind)
}

// clearLeases frees the leases the claim passes left behind.
func clearLeases(ctx context.Context, db *database, owner string) error {
	switch db.kind {
	case dbSQLite:
		conn, err := sql.Open("sqlite", "file:"+db.path+"?_pragma=busy_timeout(10000)")
		if err != nil {
			return err
		}
		defer conn.Close()
		_, err = conn.ExecContext(ctx, `UPDATE connections SET lease_owner = NULL, lease_until = NULL WHERE lease_owner = ?`, owner)
		return err
	default:
		conn, err := pgx.Connect(ctx, db.url)
		if err != nil {
			return err
		}
		defer conn.Close(context.WithoutCancel(ctx))
		_, err = conn.Exec(ctx, `UPDATE connections SET lease_owner = NULL, lease_until = NULL WHERE lease_owner = $1`, owner)
		return err
	}
}

// dbSize returns the bytes the database uses and its number of
// connections: the SQLite file after a WAL checkpoint, or the PostgreSQL
// connections table with its indexes and TOAST.
func dbSize(ctx context.Context, db *database) (int64, int64, error) {
	var rows int64
	switch db.kind {
	case dbSQLite:
		conn, err := sql.Open("sqlite", "file:"+db.path+"?_pragma=busy_timeout(10000)")
		if err != nil {
			return 0, 0, err
		}
		defer conn.Close()
		if _, err := conn.ExecContext(ctx, `PRAGMA wal_checkpoint(TRUNCATE)`); err != nil {
			return 0, 0, err
		}
		if err := conn.QueryRowContext(ctx, `SELECT count(*) FROM connections`).Scan(&rows); err != nil {
			return 0, 0, err
		}
		var size int64
		for _, suffix := range []string{"", "-wal"} {
			if fi, err := os.Stat(db.path + suffix); err == nil {
				size += fi.Size()
			}
		}
		return size, rows, nil
	default:
		conn, err := pgx.Connect(ctx, db.url)
		if err != nil {
			return 0, 0, err
		}
		defer conn.Close(context.WithoutCancel(ctx))
		var size int64
		err = conn.QueryRow(ctx, `SELECT pg_total_relation_size('connections'), (SELECT count(*) FROM connections)`).Scan(&size, &rows)
		return size, rows, err
	}
}
