package postgres

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

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

// AddAttempts appends history rows in one transaction. Each must name an
// existing connection (a foreign key).
func (s *Store) AddAttempts(ctx context.Context, attempts []tokenkeeper.RefreshAttempt) error {
	if len(attempts) == 0 {
		return nil
	}
	err := s.inTx(ctx, func(tx pgx.Tx) error { return insertAttempts(ctx, tx, attempts) })
	if err != nil {
		return fmt.Errorf("add attempts: %w", err)
	}
	return nil
}

// ListAttempts returns a connection's refresh history, the most recently
// recorded first, at most limit rows (100 when 0 or less, at most 1000).
// An unknown connection has no history.
func (s *Store) ListAttempts(ctx context.Context, connectionID string, limit int) ([]tokenkeeper.RefreshAttempt, error) {
	rows, err := s.pool.Query(ctx, `SELECT connection_id, at, trigger, class, code, http_status, duration_ms, rotated
		FROM refresh_attempts WHERE connection_id = $1 ORDER BY id DESC LIMIT $2`, connectionID, historyLimit(limit))
	if err != nil {
		return nil, fmt.Errorf("list attempts of %s: %w", connectionID, mapError(err))
	}
	defer rows.Close()
	var out []tokenkeeper.RefreshAttempt
	for rows.Next() {
		var a tokenkeeper.RefreshAttempt
		var at time.Time
		var trigger, class string
		var durationMS int64
		if err := rows.Scan(&a.ConnectionID, &at, &trigger, &class, &a.Code, &a.HTTPStatus, &durationMS, &a.Rotated); err != nil {
			return nil, fmt.Errorf("list attempts of %s: %w", connectionID, mapError(err))
		}
		a.At = at.UTC()
		a.Trigger, a.Class = tokenkeeper.Trigger(trigger), tokenkeeper.Class(class)
		a.Duration = time.Duration(durationMS) * time.Millisecond
		out = append(out, a)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list attempts of %s: %w", connectionID, mapError(err))
	}
	return out, nil
}

// ListEvents returns outbox events with a sequence number above afterSeq, in
// the order they were written, at most limit (100 when 0 or less, at most
// 1000).
func (s *Store) ListEvents(ctx context.Context, afterSeq int64, limit int) ([]tokenkeeper.StoredEvent, error) {
	rows, err := s.pool.Query(ctx, `SELECT seq, payload FROM events WHERE seq > $1 ORDER BY seq LIMIT $2`,
		afterSeq, historyLimit(limit))
	if err != nil {
		return nil, fmt.Errorf("list events: %w", mapError(err))
	}
	defer rows.Close()
	var out []tokenkeeper.StoredEvent
	for rows.Next() {
		var e tokenkeeper.StoredEvent
		var payload []byte
		if err := rows.Scan(&e.Seq, &payload); err != nil {
			return nil, fmt.Errorf("list events: %w", mapError(err))
		}
		if err := json.Unmarshal(payload, &e.Event); err != nil {
			return nil, fmt.Errorf("decode event %d: %w", e.Seq, err)
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list events: %w", mapError(err))
	}
	return out, nil
}

// insertAttempts appends history rows in tx.
func insertAttempts(ctx context.Context, tx pgx.Tx, attempts []tokenkeeper.RefreshAttempt) error {
	for _, a := range attempts {
		_, err := tx.Exec(ctx, `INSERT INTO refresh_attempts
			(connection_id, at, trigger, class, code, http_status, duration_ms, rotated)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
			a.ConnectionID, ms(a.At), string(a.Trigger), string(a.Class), a.Code, a.HTTPStatus,
			a.Duration.Milliseconds(), a.Rotated)
		if err != nil {
			return fmt.Errorf("insert attempt of %s: %w", a.ConnectionID, mapError(err))
		}
	}
	return nil
}

// insertEvents appends outbox events in tx. The payload is the whole event
// as JSON; id, type, time and connection are also columns.
func insertEvents(ctx context.Context, tx pgx.Tx, events []tokenkeeper.Event) error {
	for _, e := range events {
		e.OccurredAt = ms(e.OccurredAt)
		payload, err := json.Marshal(e)
		if err != nil {
			return fmt.Errorf("encode event %s: %w", e.ID, err)
		}
		_, err = tx.Exec(ctx, `INSERT INTO events (id, type, occurred_at, connection_id, payload)
			VALUES ($1, $2, $3, $4, $5)`,
			e.ID, string(e.Type), e.OccurredAt, e.ConnectionID, payload)
		if err != nil {
			return fmt.Errorf("insert event %s: %w", e.ID, mapError(err))
		}
	}
	return nil
}
