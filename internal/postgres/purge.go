package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/tokenkeeper/tokenkeeper"
)

var _ tokenkeeper.HistoryStore = (*Store)(nil)

// The purge statements delete, oldest first, at most $3 rows whose time is
// at or after $1 and before $2, found through an index on that time column
// (00004, 00006), and return how many they deleted and the latest time
// among them. The next batch starts at that time: it does not walk again
// through the index entries of the rows just deleted, which stay in the
// index until vacuum removes them. A statement whose rows may change
// between the subquery and the delete repeats its condition in the delete:
// a dead delivery retried meanwhile is pending again and is kept (READ
// COMMITTED rechecks it on the row's new version).
const (
	purgeAttemptsQuery = `WITH gone AS (
			DELETE FROM refresh_attempts WHERE id = ANY(ARRAY(
				SELECT id FROM refresh_attempts WHERE at >= $1 AND at < $2 ORDER BY at LIMIT $3))
			RETURNING at)
		SELECT count(*), max(at) FROM gone`
	purgeEventsQuery = `WITH gone AS (
			DELETE FROM events WHERE seq = ANY(ARRAY(
				SELECT seq FROM events WHERE dispatched_at IS NOT NULL AND occurred_at >= $1 AND occurred_at < $2
				ORDER BY occurred_at LIMIT $3))
				AND dispatched_at IS NOT NULL
			RETURNING occurred_at)
		SELECT count(*), max(occurred_at) FROM gone`
	purgeDeliveriesQuery = `WITH gone AS (
			DELETE FROM deliveries WHERE seq = ANY(ARRAY(
				SELECT seq FROM deliveries WHERE status IN ('delivered', 'dead') AND updated_at >= $1 AND updated_at < $2
				ORDER BY updated_at LIMIT $3))
				AND status IN ('delivered', 'dead') AND updated_at < $2
			RETURNING updated_at)
		SELECT count(*), max(updated_at) FROM gone`
	purgeNotificationsQuery = `WITH gone AS (
			DELETE FROM notifications WHERE seq = ANY(ARRAY(
				SELECT seq FROM notifications WHERE NOT digest_pending AND created_at >= $1 AND created_at < $2
				ORDER BY created_at LIMIT $3))
				AND NOT digest_pending
			RETURNING created_at)
		SELECT count(*), max(created_at) FROM gone`
)

// PurgeHistory deletes the history older than before, in statements of at
// most batch rows, each its own transaction (see tokenkeeper.HistoryStore).
func (s *Store) PurgeHistory(ctx context.Context, before time.Time, batch int) (tokenkeeper.PurgeCounts, error) {
	if batch <= 0 {
		batch = tokenkeeper.DefaultPurgeBatch
	}
	var c tokenkeeper.PurgeCounts
	var err error
	if c.Attempts, err = s.purgeAttempts(ctx, before, batch); err != nil {
		return c, fmt.Errorf("purge refresh attempts: %w", err)
	}
	if c.Events, err = s.purgeBatches(ctx, purgeEventsQuery, time.Time{}, before, batch); err != nil {
		return c, fmt.Errorf("purge events: %w", err)
	}
	if c.Deliveries, err = s.purgeBatches(ctx, purgeDeliveriesQuery, time.Time{}, before, batch); err != nil {
		return c, fmt.Errorf("purge deliveries: %w", err)
	}
	if c.Notifications, err = s.purgeBatches(ctx, purgeNotificationsQuery, time.Time{}, before, batch); err != nil {
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
		var first *time.Time
		if err := s.pool.QueryRow(ctx, `SELECT min(at) FROM refresh_attempts`).Scan(&first); err != nil {
			return total, mapError(err)
		}
		if first == nil || !first.Before(end) {
			return total, nil
		}
		from := first.UTC().Truncate(time.Hour)
		to := from.Add(time.Hour)
		if err := s.rollUp(ctx, from, to); err != nil {
			return total, fmt.Errorf("roll up %s: %w", from.Format(time.RFC3339), err)
		}
		n, err := s.purgeBatches(ctx, purgeAttemptsQuery, from, to, batch)
		total += n
		if err != nil {
			return total, err
		}
	}
}

// purgeBatches runs q, a purge statement, on the rows of [from, cutoff),
// batch after batch until one deletes fewer than batch rows, and returns
// the rows deleted. The zero time, stored as 0001-01-01, is before every
// stored time.
func (s *Store) purgeBatches(ctx context.Context, q string, from, cutoff time.Time, batch int) (int64, error) {
	var total int64
	for {
		var n int64
		var last *time.Time
		if err := s.pool.QueryRow(ctx, q, ms(from), ms(cutoff), batch).Scan(&n, &last); err != nil {
			return total, mapError(err)
		}
		total += n
		if n < int64(batch) || last == nil {
			return total, nil
		}
		from = *last
	}
}
