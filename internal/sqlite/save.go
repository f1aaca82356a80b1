package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"time"

	"github.com/tokenkeeper/tokenkeeper"
)

// saveColumns are the columns SaveConnection writes: everything but the id,
// the user, the provider, the creation time, the version and the lease.
// refresh_interrupted is written as the connection says: writers that hold
// the lease read it after taking the lease, and a relink clears it.
const saveColumns = `account_id = ?, scopes = ?, status = ?,
	expires_at = ?, refresh_token_expires_at = ?, lifetime_ms = ?,
	consecutive_failures = ?, consecutive_transient_failures = ?, last_refreshed_at = ?,
	last_error_class = ?, last_error_code = ?, last_error_http_status = ?, last_error_message = ?, last_error_at = ?,
	next_refresh_at = ?, notice = ?, access_token = ?, refresh_token = ?, updated_at = ?, refresh_interrupted = ?`

// SaveConnection writes w.Connection, then w.Attempts and w.Events, in one
// transaction. The update applies only when the stored version equals
// w.Connection.Version and, when w.LeaseOwner is set, the lease is recorded
// to that owner (expired or not: nobody else took it); it then stores
// Version+1, sets w.Connection.Version, and with w.LeaseOwner releases the
// lease (in the database and in w.Connection). Otherwise it writes nothing
// and returns an error wrapping tokenkeeper.ErrVersionConflict; an unknown
// connection is a conflict too.
//
// The id, user, provider and creation time are never changed by a save, and
// without w.LeaseOwner neither is the lease: a lease taken after the writer
// read the connection stays in place. Attempts without a ConnectionID are
// recorded against w.Connection.
func (s *Store) SaveConnection(ctx context.Context, w tokenkeeper.Write) error {
	return s.saveConnection(ctx, w, nil)
}

// saveConnection is SaveConnection; also, when non-nil, runs more in the
// same transaction after the connection's rows are written.
func (s *Store) saveConnection(ctx context.Context, w tokenkeeper.Write, also func(*sql.Tx) error) error {
	c := w.Connection
	vals, err := saveValues(c)
	if err != nil {
		return fmt.Errorf("save connection %s: %w", c.ID, err)
	}
	ws, err := s.writes.get(ctx)
	if err != nil {
		return fmt.Errorf("save connection %s: %w", c.ID, err)
	}
	update := ws.save
	vals = append(vals, c.ID, c.Version)
	if w.LeaseOwner != "" {
		update = ws.saveLeased
		vals = append(vals, w.LeaseOwner)
	}
	err = s.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.StmtContext(ctx, update).ExecContext(ctx, vals...)
		if err != nil {
			return mapErr(err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return mapErr(err)
		} else if n == 0 {
			return tokenkeeper.ErrVersionConflict
		}
		attempts := make([]tokenkeeper.RefreshAttempt, len(w.Attempts))
		for i, a := range w.Attempts {
			if a.ConnectionID == "" {
				a.ConnectionID = c.ID
			}
			attempts[i] = a
		}
		if err := insertAttempts(ctx, tx, ws, attempts); err != nil {
			return err
		}
		if err := insertEvents(ctx, tx, ws, w.Events); err != nil {
			return err
		}
		if also != nil {
			return also(tx)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("save connection %s: %w", c.ID, err)
	}
	c.Version++
	if w.LeaseOwner != "" {
		c.LeaseOwner, c.LeaseUntil = "", time.Time{}
	}
	return nil
}

// saveQuery returns SaveConnection's UPDATE. Its parameters are those of
// saveColumns, then the id and the expected version, then with leased the
// lease owner, whose lease it releases.
func saveQuery(leased bool) string {
	q := `UPDATE connections SET ` + saveColumns + `, version = version + 1`
	if leased {
		q += `, lease_owner = NULL, lease_until = NULL`
	}
	q += ` WHERE id = ? AND version = ?`
	if leased {
		q += ` AND lease_owner = ?`
	}
	return q
}

// saveValues returns c's values for saveColumns.
func saveValues(c *tokenkeeper.Connection) ([]any, error) {
	scopes, err := encodeStrings(c.Scopes)
	if err != nil {
		return nil, err
	}
	vals := []any{c.AccountID, scopes, string(c.Status),
		millis(c.ExpiresAt), millis(c.RefreshTokenExpiresAt), c.Lifetime.Milliseconds(),
		c.ConsecutiveFailures, c.ConsecutiveTransientFailures, millis(c.LastRefreshedAt)}
	vals = append(vals, lastErrorValues(c.LastError)...)
	return append(vals, millis(c.NextRefreshAt), string(c.Notice),
		blob(c.SealedAccessToken), blob(c.SealedRefreshToken), c.UpdatedAt.UnixMilli(), c.RefreshInterrupted), nil
}

// insertAttemptQuery inserts one refresh history row.
const insertAttemptQuery = `INSERT INTO refresh_attempts
		(connection_id, at, "trigger", class, code, http_status, duration_ms, rotated) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`

// insertAttempts appends refresh history rows in tx.
func insertAttempts(ctx context.Context, tx *sql.Tx, ws *writeStmts, attempts []tokenkeeper.RefreshAttempt) error {
	if len(attempts) == 0 {
		return nil
	}
	stmt := tx.StmtContext(ctx, ws.insertAttempt)
	for _, a := range attempts {
		_, err := stmt.ExecContext(ctx, a.ConnectionID, a.At.UnixMilli(), string(a.Trigger), string(a.Class),
			a.Code, a.HTTPStatus, a.Duration.Milliseconds(), a.Rotated)
		if err != nil {
			return fmt.Errorf("insert attempt of %s: %w", a.ConnectionID, mapErr(err))
		}
	}
	return nil
}

// insertEventQuery inserts one outbox event.
const insertEventQuery = `INSERT INTO events
		(id, type, occurred_at, connection_id, payload) VALUES (?, ?, ?, ?, ?)`

// insertEvents appends outbox events in tx. The payload is the whole event,
// its time truncated to the millisecond like every stored time.
func insertEvents(ctx context.Context, tx *sql.Tx, ws *writeStmts, events []tokenkeeper.Event) error {
	if len(events) == 0 {
		return nil
	}
	stmt := tx.StmtContext(ctx, ws.insertEvent)
	for _, e := range events {
		e.OccurredAt = truncate(e.OccurredAt)
		payload, err := json.Marshal(e)
		if err != nil {
			return fmt.Errorf("encode event %s: %w", e.ID, err)
		}
		_, err = stmt.ExecContext(ctx, e.ID, string(e.Type), e.OccurredAt.UnixMilli(), e.ConnectionID, string(payload))
		if err != nil {
			return fmt.Errorf("insert event %s: %w", e.ID, mapErr(err))
		}
	}
	return nil
}
