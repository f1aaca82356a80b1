package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"fmt"
	"io/fs"
	"log/slog"

	"github.com/pressly/goose/v3"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// newMigrator returns the goose provider of the embedded migrations on the
// writer pool (the version table is written through it).
func newMigrator(db *sql.DB, log *slog.Logger) (*goose.Provider, error) {
	sub, err := fs.Sub(migrationFiles, "migrations")
	if err != nil {
		return nil, fmt.Errorf("load migrations: %w", err)
	}
	p, err := goose.NewProvider(goose.DialectSQLite3, db, sub,
		goose.WithSlog(log), goose.WithDisableGlobalRegistry(true))
	if err != nil {
		return nil, fmt.Errorf("load migrations: %w", err)
	}
	return p, nil
}

// Migrate applies every migration not yet applied, in order, each in its own
// transaction. It is safe to call on an up-to-date database.
func (s *Store) Migrate(ctx context.Context) error {
	start := s.now()
	results, err := s.migrate.Up(ctx)
	if err != nil {
		return fmt.Errorf("migrate sqlite: %w", mapErr(err))
	}
	if len(results) > 0 {
		s.log.InfoContext(ctx, "sqlite migrated", "applied", len(results),
			"version", results[len(results)-1].Source.Version, "duration", s.now().Sub(start))
	}
	return nil
}

// MigrationStatus returns the highest applied schema version (0 when none)
// and the latest version this program knows.
func (s *Store) MigrationStatus(ctx context.Context) (current, latest int64, err error) {
	current, latest, err = s.migrate.GetVersions(ctx)
	if err != nil {
		return 0, 0, fmt.Errorf("read sqlite migration status: %w", mapErr(err))
	}
	return current, latest, nil
}
