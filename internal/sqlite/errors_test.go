package sqlite

import (
	"database/sql"
	"errors"
	"fmt"
	"testing"

	"github.com/tokenkeeper/tokenkeeper"
	"github.com/tokenkeeper/tokenkeeper/internal/storetest"
)

func TestMapErr(t *testing.T) {
	t.Parallel()
	s := setup(t)
	ctx := t.Context()
	c := storetest.NewConnection(storetest.BaseTime())
	if err := s.CreateConnection(ctx, c, nil); err != nil {
		t.Fatal(err)
	}
	k := &tokenkeeper.APIKey{ID: "key_1", Name: "k", Hash: []byte("hash"), CreatedAt: storetest.BaseTime()}
	if err := s.CreateAPIKey(ctx, k); err != nil {
		t.Fatal(err)
	}
	sameID := storetest.NewConnection(storetest.BaseTime())
	sameID.ID = c.ID
	otherKeyHash := *k
	otherKeyHash.ID = "key_2"
	event := tokenkeeper.NewEvent(tokenkeeper.EventConnected, c, storetest.BaseTime())
	if err := s.CreateConnection(ctx, storetest.NewConnection(storetest.BaseTime()), []tokenkeeper.Event{event}); err != nil {
		t.Fatal(err)
	}
	dupEvent := storetest.NewConnection(storetest.BaseTime())

	tests := []struct {
		name     string
		err      error
		is       error
		code     tokenkeeper.Code
		notFound bool
	}{
		{name: "no rows", err: fmt.Errorf("x: %w", sql.ErrNoRows), is: tokenkeeper.ErrNotFound, code: tokenkeeper.CodeAccountNotFound},
		{name: "connection id taken", err: s.CreateConnection(ctx, sameID, nil), is: tokenkeeper.ErrDuplicate, code: tokenkeeper.CodeConflict},
		{name: "api key hash taken", err: s.CreateAPIKey(ctx, &otherKeyHash), is: errAPIKeyExists, code: tokenkeeper.CodeConflict},
		{name: "event id taken", err: s.CreateConnection(ctx, dupEvent, []tokenkeeper.Event{event}), code: tokenkeeper.CodeInternal},
		{name: "unknown connection of an attempt", err: s.AddAttempts(ctx, []tokenkeeper.RefreshAttempt{{ConnectionID: "conn_none", At: storetest.BaseTime(), Trigger: "manual", Class: "success"}}), code: tokenkeeper.CodeInternal},
		{name: "other error", err: errors.New("boom"), code: tokenkeeper.CodeInternal},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := mapErr(tt.err)
			if err == nil {
				t.Fatal("mapErr returned nil for an error")
			}
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Errorf("mapErr(%v) = %v, want %v", tt.err, err, tt.is)
			}
			if tt.is == nil && errors.Is(err, tokenkeeper.ErrDuplicate) {
				t.Errorf("mapErr(%v) claims a duplicate connection", tt.err)
			}
			if got := tokenkeeper.ErrorCode(err); got != tt.code {
				t.Errorf("ErrorCode = %s, want %s", got, tt.code)
			}
		})
	}
	if mapErr(nil) != nil {
		t.Error("mapErr(nil) != nil")
	}
}
