package postgres

import (
	"context"
	"sync"
	"testing"
)

// TestMigrateConcurrently starts three replicas on one fresh schema at the
// same time: all of them succeed, and each migration is applied once.
func TestMigrateConcurrently(t *testing.T) {
	t.Parallel()
	url := newSchema(t)
	const replicas = 3
	start := make(chan struct{})
	errs := make(chan error, replicas)
	var stores []*Store
	for range replicas {
		stores = append(stores, open(t, url, Options{MaxConns: 2}))
	}
	var wg sync.WaitGroup
	for _, s := range stores {
		wg.Go(func() {
			<-start
			errs <- s.Migrate(t.Context())
		})
	}
	close(start)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("Migrate: %v", err)
		}
	}
	for i, s := range stores {
		current, latest, err := s.MigrationStatus(t.Context())
		if err != nil || current != latest || latest < 1 {
			t.Errorf("replica %d: MigrationStatus = %d, %d, %v; want current == latest >= 1", i, current, latest, err)
		}
	}
	rows, err := stores[0].pool.Query(t.Context(),
		`SELECT version_id, count(*) FROM goose_db_version GROUP BY version_id HAVING count(*) > 1`)
	if err != nil {
		t.Fatalf("read goose_db_version: %v", err)
	}
	defer rows.Close()
	for rows.Next() {
		var version, n int64
		if err := rows.Scan(&version, &n); err != nil {
			t.Fatal(err)
		}
		t.Errorf("migration %d recorded %d times, want once", version, n)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
}

// TestMigrationStatusBeforeMigrate: a fresh schema reports version 0 and the
// latest known version, without creating anything; Migrate twice is a no-op
// the second time.
func TestMigrationStatusBeforeMigrate(t *testing.T) {
	t.Parallel()
	s := open(t, newSchema(t), Options{})
	ctx := context.Background()
	current, latest, err := s.MigrationStatus(ctx)
	if err != nil || current != 0 || latest < 1 {
		t.Fatalf("MigrationStatus before Migrate = %d, %d, %v; want 0, >= 1, nil", current, latest, err)
	}
	var exists bool
	if err := s.pool.QueryRow(ctx, `SELECT to_regclass('goose_db_version') IS NOT NULL`).Scan(&exists); err != nil || exists {
		t.Errorf("MigrationStatus created the version table (exists=%t, err=%v)", exists, err)
	}
	for i := range 2 {
		if err := s.Migrate(ctx); err != nil {
			t.Fatalf("Migrate #%d: %v", i+1, err)
		}
	}
	if c, l, err := s.MigrationStatus(ctx); err != nil || c != l {
		t.Errorf("MigrationStatus after Migrate = %d, %d, %v; want current == latest", c, l, err)
	}
}
