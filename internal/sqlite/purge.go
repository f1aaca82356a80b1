package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/tokenkeeper/tokenkeeper"
)

var _ tokenkeeper.HistoryStore = (*Store)(nil)

// The purge statements delete at most ? rows older than ? each. INDEXED BY
// makes a statement fail rather than scan a table: each reads an index on
// its time column (00004, 00006), so a purge's cost follows the rows it
// deletes, not the rows it keeps.
const (
	purgeAttemptsQuery = `DELETE FROM refresh_attempts WHERE id IN (
		SELECT id FROM refresh_attempts INDEXED BY refresh_attempts_at WHERE at < ? LIMIT ?)`
	purgeEventsQuery = `DELETE FROM events WHERE seq IN (
		SELECT seq FROM events INDEXED BY events_dispatched
		WHERE dispatched_at IS NOT NULL AND occurred_at < ? LIMIT ?)`
	purgeDeliveriesQuery = `DELETE FROM deliveries WHERE seq IN (
		SELECT seq FROM deliveries INDEXED BY deliveries_finished
		WHERE status IN ('delivered', 'dead') AND updated_at < ? LIMIT ?)`
	purgeNotificationsQuery = `DELETE FROM notifications WHERE seq IN (
		SELECT seq FROM notifications INDEXED BY notifications_created
		WHERE digest_pending = 0 AND created_at < ? LIMIT ?)`
	// firstAttemptQuery finds the oldest attempt from the end of the
	// refresh_attempts_at index.
	firstAttemptQuery = `SELECT min(at) FROM refresh_attempts`
)

// PurgeHistory deletes the history older than before, in write transactions
// of at most batch rows (see tokenkeeper.HistoryStore): other writers get the
// database between two batches.
func (s *Store) PurgeHistory(ctx context.Context, before time.Time, batch int) (tokenkeeper.PurgeCounts, error) {
	if batch <= 0 {
		batch = tokenkeeper.DefaultPurgeBatch
	}
	var c tokenkeeper.PurgeCounts
	var err error
	if c.Attempts, err = s.purgeAttempts(ctx, before, batch); err != nil {
		return c, fmt.Errorf("purge refresh attempts: %w", err)
	}
	if c.Events, err = s.purgeBatches(ctx, purgeEventsQuery, before.UnixMilli(), batch); err != nil {
		return c, fmt.Errorf("purge events: %w", err)
	}
	if c.Deliveries, err = s.purgeBatches(ctx, purgeDeliveriesQuery, before.UnixMilli(), batch); err != nil {
		return c, fmt.Errorf("purge deliveries: %w", err)
	}
	if c.Notifications, err = s.purgeBatches(ctx, purgeNotificationsQuery, before.UnixMilli(), batch); err != nil {
		return c, fmt.Errorf("purge notifications: %w", err)
	}
	return c, nil
}

// purgeAttempts deletes the attempts of the hours that ended at or before
// `before`, oldest hour first, rolling each hour up before its attempts go.
func (s *Store) purgeAttempts(ctx context.Context, before time.Time, batch int) (int64, error) {
	end := before.UTC().Truncate(time.Hour)
	var total int64
	for {
		var first sql.NullInt64
		if err := s.r.QueryRowContext(ctx, firstAttemptQuery).Scan(&first); err != nil {
			return total, mapErr(err)
		}
		if !first.Valid || first.Int64 >= end.UnixMilli() {
			return total, nil
		}
		from := time.UnixMilli(first.Int64).UTC().Truncate(time.Hour)
		to := from.Add(time.Hour)
		if err := s.rollUp(ctx, from, to); err != nil {
			return total, fmt.Errorf("roll up %s: %w", from.Format(time.RFC3339), err)
		}
		n, err := s.purgeBatches(ctx, purgeAttemptsQuery, to.UnixMilli(), batch)
		total += n
		if err != nil {
			return total, err
		}
	}
}

// purgeBatches runs q, a purge statement, with (cutoff, batch) until it
// deletes fewer than batch rows, each run in a write transaction of its
// own, and returns the rows deleted.
func (s *Store) purgeBatches(ctx context.Context, q string, cutoff int64, batch int) (int64, error) {
	var total int64
	for {
		var n int64
		err := s.write(ctx, func(tx *sql.Tx) error {
			res, err := tx.ExecContext(ctx, q, cutoff, batch)
			if err != nil {
				return mapErr(err)
			}
			n, err = res.RowsAffected()
			return mapErr(err)
		})
		if err != nil {
			return total, err
		}
		total += n
		if n < int64(batch) {
			return total, nil
		}
	}
}
