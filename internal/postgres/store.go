// Package postgres implements tokenkeeper.Store on PostgreSQL with pgx/v5.
//
// Times are stored as timestamptz truncated to the millisecond in Go; a zero
// time.Time is NULL, and every time comes from the caller (SQL never calls
// now()). Scheduled refreshes are claimed with FOR UPDATE SKIP LOCKED over a
// partial index on next_refresh_at, so any number of replicas can share one
// database. The schema lives in migrations/ and is applied by Migrate under
// a PostgreSQL advisory lock.
//
// The schema is the connection's search_path: to keep tokenkeeper in its own
// schema, add search_path=NAME to the URL (pgx passes it to the server as a
// run-time parameter).
package postgres

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tokenkeeper/tokenkeeper"
)

var _ tokenkeeper.Store = (*Store)(nil)

// Options configure a Store. The zero value is usable.
type Options struct {
	// Logger receives migration progress; nil discards.
	Logger *slog.Logger
	// Now tells the time for durations the store logs (how long a migration
	// took); it never supplies a stored value, which always comes from the
	// caller. nil means time.Now.
	Now func() time.Time
	// MaxConns caps the pool; 0 keeps pgx's default or the URL's
	// pool_max_conns.
	MaxConns int32
}

// Store is tokenkeeper.Store on a pgx connection pool. It is safe for
// concurrent use by many goroutines and many processes.
type Store struct {
	pool   *pgxpool.Pool
	logger *slog.Logger
	now    func() time.Time
}

// Open connects to the database at url (a postgres:// URL or a libpq
// keyword/value string) and checks that it answers. It does not migrate;
// call Migrate. The caller must Close the store.
func Open(ctx context.Context, url string, opts Options) (*Store, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		// pgx redacts passwords from its parse errors only on a best-effort
		// basis, and the errors it wraps (net/url's) quote the whole URL.
		return nil, fmt.Errorf("parse postgres url: %w", redactedError{err})
	}
	if opts.MaxConns > 0 {
		cfg.MaxConns = opts.MaxConns
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("open postgres pool: %w", mapError(err))
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("connect to postgres: %w", mapError(err))
	}
	s := &Store{pool: pool, logger: opts.Logger, now: opts.Now}
	if s.logger == nil {
		s.logger = slog.New(slog.DiscardHandler)
	}
	if s.now == nil {
		s.now = time.Now
	}
	return s, nil
}

// Ping checks that the database answers.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.pool.Ping(ctx); err != nil {
		return fmt.Errorf("ping postgres: %w", mapError(err))
	}
	return nil
}

// Close waits for acquired connections to be released and closes the pool.
// It always returns nil.
func (s *Store) Close() error {
	s.pool.Close()
	return nil
}

// inTx runs fn in a transaction and commits it when fn returns nil.
func (s *Store) inTx(ctx context.Context, fn func(tx pgx.Tx) error) error {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("begin transaction: %w", mapError(err))
	}
	defer tx.Rollback(context.WithoutCancel(ctx)) //nolint:errcheck // no-op after commit
	if err := fn(tx); err != nil {
		return err
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("commit transaction: %w", mapError(err))
	}
	return nil
}

// ts converts a time to the parameter of a nullable timestamptz column: nil
// (NULL) for the zero time, else ms(t).
func ts(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return ms(t)
}

// ms returns t truncated to the millisecond, in UTC: the parameter of a NOT
// NULL timestamptz column. The zero time is stored as 0001-01-01 UTC and
// reads back as the zero time.
func ms(t time.Time) time.Time { return t.Truncate(time.Millisecond).UTC() }
