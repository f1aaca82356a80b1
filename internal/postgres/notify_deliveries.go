package postgres

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/tokenkeeper/tokenkeeper"
)

// deliveryColumns lists the deliveries columns in scanDelivery's order.
const deliveryColumns = `seq, id, dedup_key, event_id, channel, target, user_id, payload, status, attempts,
	next_attempt_at, last_error, lease_owner, lease_until, created_at, retried_at, updated_at, delivered_at`

// scanDelivery reads one row selected with deliveryColumns, and its sequence number.
func scanDelivery(row pgx.Row) (*tokenkeeper.Delivery, int64, error) {
	var d tokenkeeper.Delivery
	var seq int64
	var channel, status string
	var owner pgtype.Text
	var next, until, created, retried, updated, delivered pgtype.Timestamptz
	err := row.Scan(&seq, &d.ID, &d.Key, &d.EventID, &channel, &d.Target, &d.UserID, &d.Payload, &status, &d.Attempts,
		&next, &d.LastError, &owner, &until, &created, &retried, &updated, &delivered)
	if err != nil {
		return nil, 0, mapError(err)
	}
	d.Channel, d.Status, d.LeaseOwner = tokenkeeper.Channel(channel), tokenkeeper.DeliveryStatus(status), owner.String
	d.NextAttemptAt, d.LeaseUntil, d.CreatedAt = tm(next), tm(until), tm(created)
	d.RetriedAt, d.UpdatedAt, d.DeliveredAt = tm(retried), tm(updated), tm(delivered)
	return &d, seq, nil
}

// scanDeliveries reads every row of a deliveryColumns query, with the rows'
// sequence numbers.
func scanDeliveries(rows pgx.Rows) ([]*tokenkeeper.Delivery, []int64, error) {
	return scanWithSeq(rows, scanDelivery)
}

// scanWithSeq reads every row with scan, each with its sequence number (the
// cursor of a listing), and closes rows.
func scanWithSeq[T any](rows pgx.Rows, scan func(pgx.Row) (*T, int64, error)) ([]*T, []int64, error) {
	defer rows.Close()
	var out []*T
	var seqs []int64
	for rows.Next() {
		v, seq, err := scan(rows)
		if err != nil {
			return nil, nil, err
		}
		out, seqs = append(out, v), append(seqs, seq)
	}
	return out, seqs, mapError(rows.Err())
}

// insertDeliveries adds the deliveries whose key is new and returns how many
// it added.
func insertDeliveries(ctx context.Context, tx pgx.Tx, ds []*tokenkeeper.Delivery) (int, error) {
	added := 0
	for _, d := range ds {
		tag, err := tx.Exec(ctx, `INSERT INTO deliveries (id, dedup_key, event_id, channel, target, user_id,
			payload, status, attempts, next_attempt_at, last_error, created_at, retried_at, updated_at, delivered_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15) ON CONFLICT DO NOTHING`,
			d.ID, d.Key, d.EventID, string(d.Channel), d.Target, d.UserID, d.Payload, string(d.Status), d.Attempts,
			ts(d.NextAttemptAt), d.LastError, ms(d.CreatedAt), ts(d.RetriedAt), ms(d.UpdatedAt), ts(d.DeliveredAt))
		if err != nil {
			return 0, fmt.Errorf("insert delivery %s: %w", d.Key, mapError(err))
		}
		added += int(tag.RowsAffected())
	}
	return added, nil
}

// EnqueueDeliveries inserts deliveries in one transaction, skipping those
// whose key exists, and returns how many it added.
func (s *Store) EnqueueDeliveries(ctx context.Context, ds []*tokenkeeper.Delivery) (int, error) {
	var added int
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		var err error
		added, err = insertDeliveries(ctx, tx, ds)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("enqueue deliveries: %w", err)
	}
	return added, nil
}

// ClaimDeliveries leases to owner, until `until`, up to limit pending
// deliveries due at now whose lease is free or expired (lease_until < now),
// earliest due first. The rows are chosen and locked with FOR UPDATE SKIP
// LOCKED through the partial index deliveries_due, so concurrent claimers in
// any number of replicas never get the same delivery: one replica sends a
// message at a time.
func (s *Store) ClaimDeliveries(ctx context.Context, owner string, now, until time.Time, limit int) ([]*tokenkeeper.Delivery, error) {
	if limit <= 0 {
		return nil, nil
	}
	rows, err := s.pool.Query(ctx, `UPDATE deliveries SET lease_owner = $1, lease_until = $2
		WHERE seq = ANY(ARRAY(
			SELECT seq FROM deliveries
			WHERE status = 'pending' AND next_attempt_at <= $3 AND (lease_until IS NULL OR lease_until < $3)
			ORDER BY next_attempt_at, seq LIMIT $4
			FOR UPDATE SKIP LOCKED))
		RETURNING `+deliveryColumns, owner, ms(until), ms(now), limit)
	if err != nil {
		return nil, fmt.Errorf("claim deliveries: %w", mapError(err))
	}
	ds, seqs, err := scanDeliveries(rows)
	if err != nil {
		return nil, fmt.Errorf("claim deliveries: %w", err)
	}
	// RETURNING has no order of its own.
	type row struct {
		d   *tokenkeeper.Delivery
		seq int64
	}
	sorted := make([]row, len(ds))
	for i := range ds {
		sorted[i] = row{ds[i], seqs[i]}
	}
	slices.SortFunc(sorted, func(a, b row) int {
		return cmp.Or(a.d.NextAttemptAt.Compare(b.d.NextAttemptAt), cmp.Compare(a.seq, b.seq))
	})
	for i, r := range sorted {
		ds[i] = r.d
	}
	return ds, nil
}

// FinishDelivery records one attempt of a pending delivery owner holds (its
// lease expired or not: nobody else took it): attempts +1, status, next
// attempt, error (an empty error keeps the previous one), lease released.
// Otherwise it writes nothing and returns an error wrapping
// tokenkeeper.ErrLeaseHeld, or tokenkeeper.ErrNotFound for an unknown id.
func (s *Store) FinishDelivery(ctx context.Context, id, owner string, r tokenkeeper.DeliveryResult) error {
	var next, delivered time.Time
	switch r.Status {
	case tokenkeeper.DeliveryDelivered:
		delivered = r.At
	case tokenkeeper.DeliveryDead:
	case tokenkeeper.DeliveryPending:
		if r.NextAttemptAt.IsZero() {
			return fmt.Errorf("finish delivery %s: a retry needs a next attempt time", id)
		}
		next = r.NextAttemptAt
	default:
		return fmt.Errorf("finish delivery %s: unknown delivery status %q", id, r.Status)
	}
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE deliveries SET attempts = attempts + 1, status = $1, next_attempt_at = $2,
			last_error = CASE WHEN $3 = '' THEN last_error ELSE $3 END, lease_owner = NULL, lease_until = NULL,
			updated_at = $4, delivered_at = COALESCE($5, delivered_at)
			WHERE id = $6 AND status = 'pending' AND lease_owner = $7`,
			string(r.Status), ts(next), r.Error, ms(r.At), ts(delivered), id, owner)
		if err != nil {
			return mapError(err)
		}
		if tag.RowsAffected() == 0 {
			var seq int64
			if err := mapError(tx.QueryRow(ctx, `SELECT seq FROM deliveries WHERE id = $1`, id).Scan(&seq)); err != nil {
				return err
			}
			return tokenkeeper.ErrLeaseHeld
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("finish delivery %s: %w", id, err)
	}
	return nil
}

// GetDelivery returns a delivery, or an error wrapping tokenkeeper.ErrNotFound.
func (s *Store) GetDelivery(ctx context.Context, id string) (*tokenkeeper.Delivery, error) {
	d, _, err := scanDelivery(s.pool.QueryRow(ctx, `SELECT `+deliveryColumns+` FROM deliveries WHERE id = $1`, id))
	if err != nil {
		return nil, fmt.Errorf("get delivery %s: %w", id, err)
	}
	return d, nil
}

// ListDeliveries returns deliveries in f.Status (all when empty), oldest
// first, at most f.Limit (100 when 0 or less, at most 1000), and the cursor
// of the next page ("" at the end).
func (s *Store) ListDeliveries(ctx context.Context, f tokenkeeper.DeliveryFilter) ([]*tokenkeeper.Delivery, string, error) {
	after, err := parseCursor(f.After)
	if err != nil {
		return nil, "", fmt.Errorf("list deliveries: %w", err)
	}
	limit := historyLimit(f.Limit)
	rows, err := s.pool.Query(ctx, `SELECT `+deliveryColumns+` FROM deliveries
		WHERE seq > $1 AND ($2 = '' OR status = $2) ORDER BY seq LIMIT $3`, after, string(f.Status), limit+1)
	if err != nil {
		return nil, "", fmt.Errorf("list deliveries: %w", mapError(err))
	}
	ds, seqs, err := scanDeliveries(rows)
	if err != nil {
		return nil, "", fmt.Errorf("list deliveries: %w", err)
	}
	if len(ds) <= limit {
		return ds, "", nil
	}
	return ds[:limit], strconv.FormatInt(seqs[limit-1], 10), nil
}

// RetryDelivery makes a dead delivery pending again, due at now, attempts
// reset, retried_at now, and returns it; tokenkeeper.ErrNotFound for an
// unknown id, tokenkeeper.ErrDeliveryNotDead for one that is not dead.
func (s *Store) RetryDelivery(ctx context.Context, id string, now time.Time) (*tokenkeeper.Delivery, error) {
	d, _, err := scanDelivery(s.pool.QueryRow(ctx, `UPDATE deliveries SET status = 'pending', attempts = 0,
		next_attempt_at = $1, retried_at = $1, updated_at = $1, lease_owner = NULL, lease_until = NULL
		WHERE id = $2 AND status = 'dead' RETURNING `+deliveryColumns, ms(now), id))
	if errors.Is(err, tokenkeeper.ErrNotFound) {
		if _, err = s.GetDelivery(ctx, id); err == nil {
			err = tokenkeeper.ErrDeliveryNotDead
		}
	}
	if err != nil {
		return nil, fmt.Errorf("retry delivery %s: %w", id, err)
	}
	return d, nil
}

// CountDeliveries returns the number of deliveries by channel and status,
// ordered by channel, then status.
func (s *Store) CountDeliveries(ctx context.Context) ([]tokenkeeper.DeliveryCount, error) {
	rows, err := s.pool.Query(ctx, `SELECT channel, status, count(*) FROM deliveries GROUP BY channel, status ORDER BY channel, status`)
	if err != nil {
		return nil, fmt.Errorf("count deliveries: %w", mapError(err))
	}
	defer rows.Close()
	var out []tokenkeeper.DeliveryCount
	for rows.Next() {
		var channel, status string
		var n int
		if err := rows.Scan(&channel, &status, &n); err != nil {
			return nil, fmt.Errorf("count deliveries: %w", mapError(err))
		}
		out = append(out, tokenkeeper.DeliveryCount{Channel: tokenkeeper.Channel(channel), Status: tokenkeeper.DeliveryStatus(status), Count: n})
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("count deliveries: %w", mapError(err))
	}
	return out, nil
}
