package postgres

import (
	"context"
	"database/sql"
	"embed"
	"fmt"
	"hash/fnv"
	"io/fs"

	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// migrations returns the schema migrations, goose SQL files named
// NNNNN_name.sql with the same version numbers as internal/sqlite's.
func migrations() fs.FS {
	sub, err := fs.Sub(migrationFiles, "migrations")
	if err != nil {
		panic("postgres: embedded migrations: " + err.Error()) // cannot happen: the directory is embedded
	}
	return sub
}

// How long Migrate waits for another replica's migration: goose polls the
// advisory lock every lockPollSeconds (its minimum), at most lockPolls times.
const (
	lockPollSeconds = 1
	lockPolls       = 300
)

// Migrate applies the pending migrations to the schema of the connection's
// search_path. Replicas starting together migrate once: each takes a
// session-level advisory lock (its id derived from the database and schema
// names, so separate schemas migrate independently) and the others wait for
// it, then find nothing to do.
func (s *Store) Migrate(ctx context.Context) error {
	id, err := s.lockID(ctx)
	if err != nil {
		return err
	}
	locker, err := lock.NewPostgresSessionLocker(
		lock.WithLockID(id),
		lock.WithLockTimeout(lockPollSeconds, lockPolls),
	)
	if err != nil {
		return fmt.Errorf("create migration lock: %w", err)
	}
	p, db, err := s.provider(goose.WithSessionLocker(locker))
	if err != nil {
		return err
	}
	defer db.Close()
	start := s.now()
	results, err := p.Up(ctx)
	if err != nil {
		return fmt.Errorf("migrate postgres: %w", mapError(err))
	}
	if len(results) > 0 {
		s.logger.InfoContext(ctx, "postgres migrated", "applied", len(results),
			"version", results[len(results)-1].Source.Version, "duration", s.now().Sub(start))
	}
	return nil
}

// MigrationStatus returns the highest applied migration version (0 before
// the first Migrate) and the latest version this program knows. It does not
// wait for a running migration.
func (s *Store) MigrationStatus(ctx context.Context) (current, latest int64, err error) {
	p, db, err := s.provider()
	if err != nil {
		return 0, 0, err
	}
	defer db.Close()
	sources := p.ListSources()
	latest = sources[len(sources)-1].Version
	var exists bool
	if err := s.pool.QueryRow(ctx, `SELECT to_regclass('goose_db_version') IS NOT NULL`).Scan(&exists); err != nil {
		return 0, 0, fmt.Errorf("read migration status: %w", mapError(err))
	}
	if !exists {
		return 0, latest, nil
	}
	current, _, err = p.GetVersions(ctx)
	if err != nil {
		if isUndefinedTable(err) {
			return 0, latest, nil
		}
		return 0, 0, fmt.Errorf("read migration status: %w", err)
	}
	return current, latest, nil
}

// provider returns a goose provider over a database/sql view of the pool;
// the caller closes the *sql.DB (which leaves the pool open).
func (s *Store) provider(opts ...goose.ProviderOption) (*goose.Provider, *sql.DB, error) {
	db := stdlib.OpenDBFromPool(s.pool)
	opts = append(opts, goose.WithDisableGlobalRegistry(true), goose.WithSlog(s.logger))
	p, err := goose.NewProvider(goose.DialectPostgres, db, migrations(), opts...)
	if err != nil {
		db.Close()
		return nil, nil, fmt.Errorf("load migrations: %w", err)
	}
	return p, db, nil
}

// lockID returns the advisory lock id of this database and schema: goose's
// default id mixed with an FNV-1a hash of "database.schema".
func (s *Store) lockID(ctx context.Context) (int64, error) {
	var name string
	err := s.pool.QueryRow(ctx, `SELECT current_database() || '.' || coalesce(current_schema(), '')`).Scan(&name)
	if err != nil {
		return 0, fmt.Errorf("read current schema: %w", mapError(err))
	}
	h := fnv.New64a()
	h.Write([]byte(name))
	return lock.DefaultLockID ^ int64(h.Sum64()), nil
}
