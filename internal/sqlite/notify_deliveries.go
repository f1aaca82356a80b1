package sqlite

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/tokenkeeper/tokenkeeper"
)

// deliveryColumns lists the deliveries columns in scanDelivery's order.
const deliveryColumns = `seq, id, dedup_key, event_id, channel, target, user_id, payload, status, attempts,
	next_attempt_at, last_error, lease_owner, lease_until, created_at, retried_at, updated_at, delivered_at`

// scanDelivery reads one row selected with deliveryColumns, and its sequence number.
func scanDelivery(sc scanner) (*tokenkeeper.Delivery, int64, error) {
	var d tokenkeeper.Delivery
	var seq, created, updated int64
	var next, until, retried, delivered sql.NullInt64
	var owner sql.NullString
	err := sc.Scan(&seq, &d.ID, &d.Key, &d.EventID, &d.Channel, &d.Target, &d.UserID, &d.Payload, &d.Status, &d.Attempts,
		&next, &d.LastError, &owner, &until, &created, &retried, &updated, &delivered)
	if err != nil {
		return nil, 0, mapErr(err)
	}
	d.NextAttemptAt, d.LeaseOwner, d.LeaseUntil = fromMillis(next), owner.String, fromMillis(until)
	d.CreatedAt, d.UpdatedAt = time.UnixMilli(created).UTC(), time.UnixMilli(updated).UTC()
	d.RetriedAt, d.DeliveredAt = fromMillis(retried), fromMillis(delivered)
	return &d, seq, nil
}

// queryDeliveries runs a query selecting deliveryColumns and returns the rows
// as read, with their sequence numbers.
func queryDeliveries(ctx context.Context, db queryer, q string, args ...any) ([]*tokenkeeper.Delivery, []int64, error) {
	return queryWithSeq(ctx, db, scanDelivery, q, args...)
}

// insertDeliveries adds the deliveries whose key is new and returns how many
// it added.
func insertDeliveries(ctx context.Context, tx *sql.Tx, ds []*tokenkeeper.Delivery) (int, error) {
	added := 0
	for _, d := range ds {
		res, err := tx.ExecContext(ctx, `INSERT INTO deliveries (id, dedup_key, event_id, channel, target, user_id,
			payload, status, attempts, next_attempt_at, last_error, created_at, retried_at, updated_at, delivered_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`,
			d.ID, d.Key, d.EventID, string(d.Channel), d.Target, d.UserID, d.Payload, string(d.Status), d.Attempts,
			millis(d.NextAttemptAt), d.LastError, d.CreatedAt.UnixMilli(), millis(d.RetriedAt), d.UpdatedAt.UnixMilli(),
			millis(d.DeliveredAt))
		if err != nil {
			return 0, fmt.Errorf("insert delivery %s: %w", d.Key, mapErr(err))
		}
		n, err := res.RowsAffected()
		if err != nil {
			return 0, mapErr(err)
		}
		added += int(n)
	}
	return added, nil
}

// EnqueueDeliveries inserts deliveries in one transaction, skipping those
// whose key exists, and returns how many it added.
func (s *Store) EnqueueDeliveries(ctx context.Context, ds []*tokenkeeper.Delivery) (int, error) {
	var added int
	err := s.write(ctx, func(tx *sql.Tx) error {
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
// earliest due first. It is one UPDATE in one IMMEDIATE transaction through
// the partial index deliveries_due, so concurrent claimers never get the
// same delivery.
func (s *Store) ClaimDeliveries(ctx context.Context, owner string, now, until time.Time, limit int) ([]*tokenkeeper.Delivery, error) {
	if limit <= 0 {
		return nil, nil
	}
	var ds []*tokenkeeper.Delivery
	var seqs []int64
	err := s.write(ctx, func(tx *sql.Tx) error {
		var err error
		ds, seqs, err = queryDeliveries(ctx, tx, `UPDATE deliveries SET lease_owner = ?, lease_until = ?
			WHERE seq IN (SELECT seq FROM deliveries INDEXED BY deliveries_due
				WHERE status = 'pending' AND next_attempt_at <= ? AND (lease_until IS NULL OR lease_until < ?)
				ORDER BY next_attempt_at, seq LIMIT ?)
			RETURNING `+deliveryColumns, owner, until.UnixMilli(), now.UnixMilli(), now.UnixMilli(), limit)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("claim deliveries: %w", err)
	}
	// RETURNING does not keep the subquery's order.
	order := make([]int, len(ds))
	for i := range order {
		order[i] = i
	}
	slices.SortFunc(order, func(a, b int) int {
		return cmp.Or(ds[a].NextAttemptAt.Compare(ds[b].NextAttemptAt), cmp.Compare(seqs[a], seqs[b]))
	})
	out := make([]*tokenkeeper.Delivery, len(ds))
	for i, j := range order {
		out[i] = ds[j]
	}
	return out, nil
}

// FinishDelivery records one attempt of a pending delivery owner holds (its
// lease expired or not: nobody else took it): attempts +1, status, next
// attempt, error (an empty error keeps the previous one), lease released.
// Otherwise it writes nothing and returns an error wrapping
// tokenkeeper.ErrLeaseHeld, or tokenkeeper.ErrNotFound for an unknown id.
func (s *Store) FinishDelivery(ctx context.Context, id, owner string, r tokenkeeper.DeliveryResult) error {
	next, delivered, err := finishValues(r)
	if err != nil {
		return fmt.Errorf("finish delivery %s: %w", id, err)
	}
	err = s.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE deliveries SET attempts = attempts + 1, status = ?, next_attempt_at = ?,
			last_error = CASE WHEN ? = '' THEN last_error ELSE ? END, lease_owner = NULL, lease_until = NULL,
			updated_at = ?, delivered_at = COALESCE(?, delivered_at)
			WHERE id = ? AND status = 'pending' AND lease_owner = ?`,
			string(r.Status), millis(next), r.Error, r.Error, r.At.UnixMilli(), millis(delivered), id, owner)
		if err != nil {
			return mapErr(err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return mapErr(err)
		} else if n == 0 {
			var seq int64
			if err := mapErr(tx.QueryRowContext(ctx, `SELECT seq FROM deliveries WHERE id = ?`, id).Scan(&seq)); err != nil {
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

// finishValues checks a result and returns its next_attempt_at and
// delivered_at values (zero when not set).
func finishValues(r tokenkeeper.DeliveryResult) (next, delivered time.Time, err error) {
	switch r.Status {
	case tokenkeeper.DeliveryDelivered:
		return time.Time{}, r.At, nil
	case tokenkeeper.DeliveryDead:
		return time.Time{}, time.Time{}, nil
	case tokenkeeper.DeliveryPending:
		if r.NextAttemptAt.IsZero() {
			return time.Time{}, time.Time{}, errors.New("a retry needs a next attempt time")
		}
		return r.NextAttemptAt, time.Time{}, nil
	}
	return time.Time{}, time.Time{}, fmt.Errorf("unknown delivery status %q", r.Status)
}

// GetDelivery returns a delivery, or an error wrapping tokenkeeper.ErrNotFound.
func (s *Store) GetDelivery(ctx context.Context, id string) (*tokenkeeper.Delivery, error) {
	d, _, err := scanDelivery(s.r.QueryRowContext(ctx, `SELECT `+deliveryColumns+` FROM deliveries WHERE id = ?`, id))
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
	q := `SELECT ` + deliveryColumns + ` FROM deliveries WHERE seq > ?`
	args := []any{after}
	if f.Status != "" {
		q += ` AND status = ?`
		args = append(args, string(f.Status))
	}
	ds, seqs, err := queryDeliveries(ctx, s.r, q+` ORDER BY seq LIMIT ?`, append(args, limit+1)...)
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
	var d *tokenkeeper.Delivery
	err := s.write(ctx, func(tx *sql.Tx) error {
		var err error
		d, _, err = scanDelivery(tx.QueryRowContext(ctx, `UPDATE deliveries SET status = 'pending', attempts = 0,
			next_attempt_at = ?, retried_at = ?, updated_at = ?, lease_owner = NULL, lease_until = NULL
			WHERE id = ? AND status = 'dead' RETURNING `+deliveryColumns, now.UnixMilli(), now.UnixMilli(), now.UnixMilli(), id))
		if !errors.Is(err, tokenkeeper.ErrNotFound) {
			return err
		}
		if _, _, err := scanDelivery(tx.QueryRowContext(ctx, `SELECT `+deliveryColumns+` FROM deliveries WHERE id = ?`, id)); err != nil {
			return err
		}
		return tokenkeeper.ErrDeliveryNotDead
	})
	if err != nil {
		return nil, fmt.Errorf("retry delivery %s: %w", id, err)
	}
	return d, nil
}

// CountDeliveries returns the number of deliveries by channel and status,
// ordered by channel, then status.
func (s *Store) CountDeliveries(ctx context.Context) ([]tokenkeeper.DeliveryCount, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT channel, status, count(*) FROM deliveries GROUP BY channel, status ORDER BY channel, status`)
	if err != nil {
		return nil, fmt.Errorf("count deliveries: %w", mapErr(err))
	}
	defer rows.Close()
	var out []tokenkeeper.DeliveryCount
	for rows.Next() {
		var c tokenkeeper.DeliveryCount
		if err := rows.Scan(&c.Channel, &c.Status, &c.Count); err != nil {
			return nil, fmt.Errorf("count deliveries: %w", mapErr(err))
		}
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("count deliveries: %w", mapErr(err))
	}
	return out, nil
}
