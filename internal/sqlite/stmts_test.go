package sqlite

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tokenkeeper/tokenkeeper"
	"github.com/tokenkeeper/tokenkeeper/internal/storetest"
)

// hotCalls runs every method that uses a prepared statement once, on a
// connection that is not stored, and returns their errors by name.
func hotCalls(t *testing.T, s *Store) map[string]error {
	t.Helper()
	ctx := t.Context()
	now := storetest.BaseTime()
	c := storetest.NewConnection(now)
	_, _, nextErr := s.NextDue(ctx)
	_, getErr := s.GetConnection(ctx, c.ID)
	_, keyErr := s.GetAPIKeyByHash(ctx, []byte("no such hash"))
	_, claimErr := s.ClaimDue(ctx, "me", now, now.Add(time.Minute), 10, nil)
	_, acquireErr := s.AcquireLease(ctx, c.ID, "me", now, now.Add(time.Minute))
	return map[string]error{
		"NextDue":         nextErr,
		"GetConnection":   getErr,
		"GetAPIKeyByHash": keyErr,
		"ClaimDue":        claimErr,
		"AcquireLease":    acquireErr,
		"ReleaseLease":    s.ReleaseLease(ctx, c.ID, "me"),
		"SaveConnection":  s.SaveConnection(ctx, tokenkeeper.Write{Connection: c}),
		"AddAttempts":     s.AddAttempts(ctx, []tokenkeeper.RefreshAttempt{{ConnectionID: c.ID, At: now}}),
		"CreateConnection": s.CreateConnection(ctx, c, []tokenkeeper.Event{
			{ID: tokenkeeper.NewID("evt_"), Type: tokenkeeper.EventConnected, OccurredAt: now, ConnectionID: c.ID}}),
	}
}

// refreshCycle stores a connection and runs a refresh's statements on it:
// claim, lease, save with history and events, release, and the reads of a
// token request. It fails t on any error or wrong answer.
func refreshCycle(t *testing.T, s *Store) {
	t.Helper()
	ctx := t.Context()
	now := storetest.BaseTime()
	c := storetest.NewConnection(now, func(c *tokenkeeper.Connection) { c.NextRefreshAt = now })
	if err := s.CreateConnection(ctx, c, nil); err != nil {
		t.Fatalf("CreateConnection: %v", err)
	}
	if next, ok, err := s.NextDue(ctx); err != nil || !ok || !next.Equal(now) {
		t.Fatalf("NextDue = %v, %v, %v; want %v, true", next, ok, err, now)
	}
	claimed, err := s.ClaimDue(ctx, "me", now, now.Add(time.Minute), 10, nil)
	if err != nil || len(claimed) != 1 || claimed[0].ID != c.ID {
		t.Fatalf("ClaimDue = %d connections, %v; want %s", len(claimed), err, c.ID)
	}
	got, err := s.AcquireLease(ctx, c.ID, "me", now, now.Add(2*time.Minute))
	if err != nil || got.LeaseOwner != "me" {
		t.Fatalf("AcquireLease = %+v, %v; want the lease of me", got, err)
	}
	got.NextRefreshAt = now.Add(time.Hour)
	err = s.SaveConnection(ctx, tokenkeeper.Write{
		Connection: got,
		LeaseOwner: "me",
		Attempts:   []tokenkeeper.RefreshAttempt{{At: now, Trigger: tokenkeeper.TriggerScheduler, Class: tokenkeeper.ClassSuccess}},
		Events: []tokenkeeper.Event{{ID: tokenkeeper.NewID("evt_"), Type: tokenkeeper.EventRecovered,
			OccurredAt: now, ConnectionID: c.ID}},
	})
	if err != nil {
		t.Fatalf("SaveConnection: %v", err)
	}
	if err := s.ReleaseLease(ctx, c.ID, "me"); err != nil {
		t.Fatalf("ReleaseLease: %v", err)
	}
	read, err := s.GetConnection(ctx, c.ID)
	if err != nil || read.Version != 2 || read.LeaseOwner != "" || !read.NextRefreshAt.Equal(now.Add(time.Hour)) {
		t.Fatalf("GetConnection = %+v, %v; want version 2, no lease, next refresh in an hour", read, err)
	}
	if as, err := s.ListAttempts(ctx, c.ID, 0); err != nil || len(as) != 1 {
		t.Fatalf("ListAttempts = %d attempts, %v; want 1", len(as), err)
	}
	key := &tokenkeeper.APIKey{ID: tokenkeeper.NewID("key_"), Name: "k", Hash: storetest.OpaqueBytes(32),
		Scopes: []tokenkeeper.Scope{tokenkeeper.ScopeTokensRead}, CreatedAt: now}
	if err := s.CreateAPIKey(ctx, key); err != nil {
		t.Fatalf("CreateAPIKey: %v", err)
	}
	if k, err := s.GetAPIKeyByHash(ctx, key.Hash); err != nil || k.ID != key.ID {
		t.Fatalf("GetAPIKeyByHash = %+v, %v; want %s", k, err, key.ID)
	}
}

// TestStatementsAfterLateMigrate opens a store on an empty file, uses it
// before migrating (every prepared statement fails: its tables do not
// exist), then migrates it: the failures must not stick.
func TestStatementsAfterLateMigrate(t *testing.T) {
	t.Parallel()
	s, _ := openStore(t)
	for name, err := range hotCalls(t, s) {
		if err == nil || !strings.Contains(err.Error(), "no such table") {
			t.Errorf("%s before Migrate = %v, want a missing table", name, err)
		}
	}
	if s.reads.set.Load() != nil || s.writes.set.Load() != nil || len(s.reads.stmts)+len(s.writes.stmts) != 0 {
		t.Fatal("a failed preparation kept statements")
	}
	if err := s.Migrate(t.Context()); err != nil {
		t.Fatalf("Migrate: %v", err)
	}
	refreshCycle(t, s)
}

// TestStatementsPreparedOnce starts many token reads and refreshes at once
// on a new store: they prepare each set once, and later calls reuse it.
func TestStatementsPreparedOnce(t *testing.T) {
	t.Parallel()
	s := setup(t)
	now := storetest.BaseTime()
	var wg sync.WaitGroup
	errs := make(chan error, 40)
	for range 20 {
		wg.Go(func() {
			if _, err := s.GetAPIKeyByHash(t.Context(), []byte("unknown")); !errors.Is(err, tokenkeeper.ErrNotFound) {
				errs <- fmt.Errorf("GetAPIKeyByHash of an unknown hash: %v, want not found", err)
			}
		})
		wg.Go(func() {
			if _, err := s.ClaimDue(t.Context(), "me", now, now.Add(time.Minute), 1, nil); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("concurrent first use: %v", err)
	}
	reads, writes := s.reads.set.Load(), s.writes.set.Load()
	if reads == nil || writes == nil {
		t.Fatal("statements not prepared after use")
	}
	if n, m := len(s.reads.stmts), len(s.writes.stmts); n != 3 || m != 7 {
		t.Fatalf("prepared %d reader and %d writer statements, want 3 and 7", n, m)
	}
	refreshCycle(t, s)
	if s.reads.set.Load() != reads || s.writes.set.Load() != writes {
		t.Error("statements prepared again after the first use")
	}
}

// TestCloseClosesStatements checks that Close closes the prepared statements
// (a closed pool alone would report "database is closed").
func TestCloseClosesStatements(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s, err := Open(ctx, filepath.Join(t.TempDir(), "tokenkeeper.db"), Options{})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	if err := s.Migrate(ctx); err != nil {
		t.Fatalf("Migrate: %v", err)
	}
	if _, err := s.GetConnection(ctx, "conn_x"); err == nil {
		t.Fatal("GetConnection of an unknown id succeeded")
	}
	if err := s.ReleaseLease(ctx, "conn_x", "me"); err != nil {
		t.Fatalf("ReleaseLease: %v", err)
	}
	reads, writes := s.reads.set.Load(), s.writes.set.Load()
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	var id string
	if err := reads.getConnection.QueryRowContext(ctx, "conn_x").Scan(&id); err == nil || !strings.Contains(err.Error(), "statement is closed") {
		t.Errorf("reader statement after Close: %v, want statement is closed", err)
	}
	if _, err := writes.releaseLease.ExecContext(ctx, "conn_x", "me"); err == nil || !strings.Contains(err.Error(), "statement is closed") {
		t.Errorf("writer statement after Close: %v, want statement is closed", err)
	}
}
