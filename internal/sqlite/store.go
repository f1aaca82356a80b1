// Package sqlite is tokenkeeper's Store on an SQLite file, through the pure-Go
// driver modernc.org/sqlite.
//
// The store keeps two pools on the same file: one writer connection (every
// write transaction is BEGIN IMMEDIATE, so writers queue on the database
// lock, within busy_timeout, instead of failing on a lock upgrade) and a few
// read-only connections, which WAL lets read while the writer writes.
//
// Times are stored as INTEGER unix milliseconds (NULL for the zero time), so
// comparisons in SQL are numeric and every time comes back truncated to the
// millisecond, in UTC. The schema lives in migrations/ and is applied by
// Migrate, never by Open.
package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"time"

	"github.com/pressly/goose/v3"
	_ "modernc.org/sqlite" // registers the "sqlite" database/sql driver

	"github.com/tokenkeeper/tokenkeeper"
)

var _ tokenkeeper.Store = (*Store)(nil)

// Options configures a Store. The zero value is usable.
type Options struct {
	// Logger receives migration progress; nil discards it.
	Logger *slog.Logger
	// Now tells the time for durations that the store logs (how long a
	// migration took); it never supplies a stored value, which always comes
	// from the caller. nil means time.Now.
	Now func() time.Time
}

// Store is a tokenkeeper.Store on an SQLite database file. Its methods are
// safe for concurrent use.
type Store struct {
	w       *sql.DB // the single writer connection
	r       *sql.DB // read-only connections
	reads   *stmtSet[readStmts]
	writes  *stmtSet[writeStmts]
	log     *slog.Logger
	now     func() time.Time
	migrate *goose.Provider
}

// Open opens (creating it if needed) the SQLite database named by dsn: a
// file path, "sqlite:path", or a "file:" URI. It checks that the file can be
// opened and set to WAL, but does not migrate it: call Migrate. In-memory
// databases are refused.
func Open(ctx context.Context, dsn string, opts Options) (*Store, error) {
	uri, err := fileURI(dsn)
	if err != nil {
		return nil, fmt.Errorf("open sqlite: %w", err)
	}
	s := &Store{log: opts.Logger, now: opts.Now}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.w, err = sql.Open("sqlite", withParams(uri, writerParams)); err != nil {
		return nil, fmt.Errorf("open sqlite writer: %w", mapErr(err))
	}
	s.w.SetMaxOpenConns(1)
	s.w.SetMaxIdleConns(1)
	s.w.SetConnMaxLifetime(0)
	// The writer connects first: it creates the file and switches it to WAL
	// before any reader looks at it.
	if err := s.w.PingContext(ctx); err != nil {
		s.w.Close()
		return nil, fmt.Errorf("open sqlite writer: %w", mapErr(err))
	}
	if s.r, err = sql.Open("sqlite", withParams(uri, readerParams)); err != nil {
		s.w.Close()
		return nil, fmt.Errorf("open sqlite readers: %w", mapErr(err))
	}
	s.reads = newStmtSet(s.r, prepareReads)
	s.writes = newStmtSet(s.w, prepareWrites)
	readers := max(4, runtime.GOMAXPROCS(0))
	s.r.SetMaxOpenConns(readers)
	s.r.SetMaxIdleConns(readers)
	if err := s.r.PingContext(ctx); err != nil {
		s.Close()
		return nil, fmt.Errorf("open sqlite readers: %w", mapErr(err))
	}
	if s.migrate, err = newMigrator(s.w, s.log); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// Close closes the prepared statements and both pools. The store must not
// be used afterwards.
func (s *Store) Close() error {
	return errors.Join(s.reads.close(), s.writes.close(), s.r.Close(), s.w.Close())
}

// Ping checks that the writer and a reader answer.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.w.PingContext(ctx); err != nil {
		return fmt.Errorf("ping sqlite writer: %w", mapErr(err))
	}
	if err := s.r.PingContext(ctx); err != nil {
		return fmt.Errorf("ping sqlite reader: %w", mapErr(err))
	}
	return nil
}

// write runs fn in one IMMEDIATE transaction on the writer connection and
// commits when fn returns nil. fn must use only tx: the writer pool has one
// connection, which tx holds. Prepared writer statements are obtained
// (s.writes.get) before write and bound to tx with tx.StmtContext.
func (s *Store) write(ctx context.Context, fn func(tx *sql.Tx) error) error {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin write: %w", mapErr(err))
	}
	if err := fn(tx); err != nil {
		_ = tx.Rollback() // the error that matters is fn's
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", mapErr(err))
	}
	return nil
}
