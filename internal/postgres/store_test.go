package postgres

import (
	"errors"
	"testing"

	"github.com/tokenkeeper/tokenkeeper"
	"github.com/tokenkeeper/tokenkeeper/internal/storetest"
)

// TestUniqueViolations checks the constraint names mapError relies on
// against the real schema.
func TestUniqueViolations(t *testing.T) {
	t.Parallel()
	s := setup(t)
	now := baseTime()
	c := storetest.NewConnection(now)
	if err := s.CreateConnection(t.Context(), c, nil); err != nil {
		t.Fatalf("CreateConnection: %v", err)
	}
	key := &tokenkeeper.APIKey{ID: "key_1", Name: "app", Hash: storetest.OpaqueBytes(32), CreatedAt: now}
	if err := s.CreateAPIKey(t.Context(), key); err != nil {
		t.Fatalf("CreateAPIKey: %v", err)
	}
	tests := []struct {
		name string
		do   func() error
		want error
	}{
		{"connection id", func() error {
			return s.CreateConnection(t.Context(), storetest.NewConnection(now, func(d *tokenkeeper.Connection) { d.ID = c.ID }), nil)
		}, tokenkeeper.ErrDuplicate},
		{"api key hash", func() error {
			return s.CreateAPIKey(t.Context(), &tokenkeeper.APIKey{ID: "key_2", Name: "other", Hash: key.Hash, CreatedAt: now})
		}, errAPIKeyExists},
		{"api key id", func() error {
			return s.CreateAPIKey(t.Context(), &tokenkeeper.APIKey{ID: key.ID, Name: "other", Hash: storetest.OpaqueBytes(32), CreatedAt: now})
		}, errAPIKeyExists},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.do(); !errors.Is(err, tt.want) {
				t.Errorf("got %v, want an error matching %v", err, tt.want)
			}
		})
	}
}

// TestAttemptsNeedConnection: history rows reference an existing connection
// (a foreign key, as in the SQLite schema), and a failed batch adds nothing.
func TestAttemptsNeedConnection(t *testing.T) {
	t.Parallel()
	s := setup(t)
	now := baseTime()
	c := storetest.NewConnection(now)
	if err := s.CreateConnection(t.Context(), c, nil); err != nil {
		t.Fatalf("CreateConnection: %v", err)
	}
	batch := []tokenkeeper.RefreshAttempt{
		{ConnectionID: c.ID, At: now, Trigger: tokenkeeper.TriggerManual, Class: tokenkeeper.ClassSuccess},
		{ConnectionID: "conn_unknown", At: now, Trigger: tokenkeeper.TriggerManual, Class: tokenkeeper.ClassSuccess},
	}
	if err := s.AddAttempts(t.Context(), batch); err == nil {
		t.Fatal("AddAttempts for an unknown connection succeeded")
	}
	if got, err := s.ListAttempts(t.Context(), c.ID, 10); err != nil || len(got) != 0 {
		t.Errorf("ListAttempts after a failed batch = %v, %v; want none", got, err)
	}
}

// TestSchemasIsolated: stores on two schemas of one database do not see each
// other's rows, which is what lets tests (and tenants) share a server.
func TestSchemasIsolated(t *testing.T) {
	t.Parallel()
	a, b := setup(t), setup(t)
	c := storetest.NewConnection(baseTime())
	if err := a.CreateConnection(t.Context(), c, nil); err != nil {
		t.Fatalf("CreateConnection: %v", err)
	}
	if _, err := b.GetConnection(t.Context(), c.ID); !errors.Is(err, tokenkeeper.ErrNotFound) {
		t.Errorf("the other schema's store sees the connection: %v", err)
	}
	if _, err := a.GetConnection(t.Context(), c.ID); err != nil {
		t.Errorf("GetConnection in its own schema: %v", err)
	}
}
