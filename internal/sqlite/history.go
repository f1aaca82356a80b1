package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"time"

	"github.com/tokenkeeper/tokenkeeper"
)

// Page sizes of ListAttempts and ListEvents.
const (
	defaultHistoryLimit = 100
	maxHistoryLimit     = 1000
)

// historyLimit returns limit within 1..maxHistoryLimit, defaultHistoryLimit
// for 0 or less.
func historyLimit(limit int) int {
	if limit <= 0 {
		return defaultHistoryLimit
	}
	return min(limit, maxHistoryLimit)
}

// ListAttempts returns a connection's refresh history, the most recently
// recorded first, at most limit rows (100 when 0 or less, at most 1000).
// An unknown connection has no history.
func (s *Store) ListAttempts(ctx context.Context, connectionID string, limit int) ([]tokenkeeper.RefreshAttempt, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT connection_id, at, "trigger", class, code, http_status, duration_ms, rotated
		FROM refresh_attempts WHERE connection_id = ? ORDER BY id DESC LIMIT ?`, connectionID, historyLimit(limit))
	if err != nil {
		return nil, fmt.Errorf("list attempts of %s: %w", connectionID, mapErr(err))
	}
	defer rows.Close()
	var out []tokenkeeper.RefreshAttempt
	for rows.Next() {
		var a tokenkeeper.RefreshAttempt
		var at, durationMS int64
		if err := rows.Scan(&a.ConnectionID, &at, &a.Trigger, &a.Class, &a.Code, &a.HTTPStatus, &durationMS, &a.Rotated); err != nil {
			return nil, fmt.Errorf("list attempts of %s: %w", connectionID, mapErr(err))
		}
		a.At = time.UnixMilli(at).UTC()
		a.Duration = time.Duration(durationMS) * time.Millisecond
		out = append(out, a)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list attempts of %s: %w", connectionID, mapErr(err))
	}
	return out, nil
}

// AddAttempts appends history rows in one transaction. Each must name an
// existing connection (a foreign key).
func (s *Store) AddAttempts(ctx context.Context, attempts []tokenkeeper.RefreshAttempt) error {
	if len(attempts) == 0 {
		return nil
	}
	ws, err := s.writes.get(ctx)
	if err != nil {
		return fmt.Errorf("add attempts: %w", err)
	}
	err = s.write(ctx, func(tx *sql.Tx) error { return insertAttempts(ctx, tx, ws, attempts) })
	if err != nil {
		return fmt.Errorf("add attempts: %w", err)
	}
	return nil
}

// ListEvents returns outbox events with a sequence number above afterSeq, in
// the order they were written, at most limit (100 when 0 or less, at most
// 1000).
func (s *Store) ListEvents(ctx context.Context, afterSeq int64, limit int) ([]tokenkeeper.StoredEvent, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT seq, payload FROM events WHERE seq > ? ORDER BY seq LIMIT ?`,
		afterSeq, historyLimit(limit))
	if err != nil {
		return nil, fmt.Errorf("list events: %w", mapErr(err))
	}
	defer rows.Close()
	var out []tokenkeeper.StoredEvent
	for rows.Next() {
		var e tokenkeeper.StoredEvent
		var payload string
		if err := rows.Scan(&e.Seq, &payload); err != nil {
			return nil, fmt.Errorf("list events: %w", mapErr(err))
		}
		if err := json.Unmarshal([]byte(payload), &e.Event); err != nil {
			return nil, fmt.Errorf("decode event %d: %w", e.Seq, err)
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list events: %w", mapErr(err))
	}
	return out, nil
}
