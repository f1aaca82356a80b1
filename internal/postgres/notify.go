package postgres

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/tokenkeeper/tokenkeeper"
)

var _ tokenkeeper.NotificationStore = (*Store)(nil)

// errBadCursor answers a page cursor that no list returned.
var errBadCursor = &tokenkeeper.Error{Code: tokenkeeper.CodeInvalidRequest, Message: "cursor is not a cursor this API returned"}

// parseCursor reads a page cursor of ListDeliveries or ListNotifications: a
// sequence number; "" is the first page.
func parseCursor(s string) (int64, error) {
	if s == "" {
		return 0, nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n <= 0 {
		return 0, errBadCursor
	}
	return n, nil
}

// ClaimEvents leases to owner, until `until`, up to limit undispatched events
// whose lease is free or expired at now (lease_until < now), oldest first.
// The events are chosen and locked with FOR UPDATE SKIP LOCKED through the
// partial index events_undispatched (an init plan, as in claimDueSQL), so
// concurrent claimers in any number of replicas never get the same event.
func (s *Store) ClaimEvents(ctx context.Context, owner string, now, until time.Time, limit int) ([]tokenkeeper.StoredEvent, error) {
	if limit <= 0 {
		return nil, nil
	}
	rows, err := s.pool.Query(ctx, `UPDATE events SET lease_owner = $1, lease_until = $2
		WHERE seq = ANY(ARRAY(
			SELECT seq FROM events
			WHERE dispatched_at IS NULL AND (lease_until IS NULL OR lease_until < $3)
			ORDER BY seq LIMIT $4
			FOR UPDATE SKIP LOCKED))
		RETURNING seq, payload`, owner, ms(until), ms(now), limit)
	if err != nil {
		return nil, fmt.Errorf("claim events: %w", mapError(err))
	}
	defer rows.Close()
	var out []tokenkeeper.StoredEvent
	for rows.Next() {
		var e tokenkeeper.StoredEvent
		var payload []byte
		if err := rows.Scan(&e.Seq, &payload); err != nil {
			return nil, fmt.Errorf("claim events: %w", mapError(err))
		}
		if err := json.Unmarshal(payload, &e.Event); err != nil {
			return nil, fmt.Errorf("decode event %d: %w", e.Seq, err)
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("claim events: %w", mapError(err))
	}
	slices.SortFunc(out, func(a, b tokenkeeper.StoredEvent) int { return cmp.Compare(a.Seq, b.Seq) })
	return out, nil
}

// DispatchEvent marks the event dispatched and inserts d's notifications and
// deliveries in one transaction, when d.Owner holds the event's lease (expired
// or not: nobody else took it) and it is undispatched. Otherwise it writes
// nothing and returns an error wrapping tokenkeeper.ErrLeaseHeld, or
// tokenkeeper.ErrNotFound for an unknown event. Existing notifications (by
// event id) and deliveries (by key) are kept as they are.
func (s *Store) DispatchEvent(ctx context.Context, d tokenkeeper.Dispatch) error {
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE events SET dispatched_at = $1, lease_owner = NULL, lease_until = NULL
			WHERE id = $2 AND dispatched_at IS NULL AND lease_owner = $3`, ms(d.At), d.EventID, d.Owner)
		if err != nil {
			return mapError(err)
		}
		if tag.RowsAffected() == 0 {
			var seq int64
			if err := mapError(tx.QueryRow(ctx, `SELECT seq FROM events WHERE id = $1`, d.EventID).Scan(&seq)); err != nil {
				return err
			}
			return tokenkeeper.ErrLeaseHeld
		}
		for _, n := range d.Notifications {
			_, err := tx.Exec(ctx, `INSERT INTO notifications
				(id, event_id, user_id, connection_id, provider, type, message, created_at, read_at, digest_pending)
				VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT DO NOTHING`,
				n.ID, n.EventID, n.UserID, n.ConnectionID, n.Provider, string(n.Type), n.Message,
				ms(n.CreatedAt), ts(n.ReadAt), n.DigestPending)
			if err != nil {
				return fmt.Errorf("insert notification of event %s: %w", n.EventID, mapError(err))
			}
		}
		_, err = insertDeliveries(ctx, tx, d.Deliveries)
		return err
	})
	if err != nil {
		return fmt.Errorf("dispatch event %s: %w", d.EventID, err)
	}
	return nil
}

// CountUndispatchedEvents returns the number of events not yet dispatched.
func (s *Store) CountUndispatchedEvents(ctx context.Context) (int, error) {
	var n int
	if err := s.pool.QueryRow(ctx, `SELECT count(*) FROM events WHERE dispatched_at IS NULL`).Scan(&n); err != nil {
		return 0, fmt.Errorf("count undispatched events: %w", mapError(err))
	}
	return n, nil
}

// notificationColumns lists the notifications columns in scanNotification's order.
const notificationColumns = `seq, id, event_id, user_id, connection_id, provider, type, message, created_at, read_at, digest_pending`

// scanNotification reads one row selected with notificationColumns.
func scanNotification(row pgx.Row) (*tokenkeeper.Notification, int64, error) {
	var n tokenkeeper.Notification
	var seq int64
	var typ string
	var created, read pgtype.Timestamptz
	err := row.Scan(&seq, &n.ID, &n.EventID, &n.UserID, &n.ConnectionID, &n.Provider, &typ, &n.Message,
		&created, &read, &n.DigestPending)
	if err != nil {
		return nil, 0, mapError(err)
	}
	n.Type, n.CreatedAt, n.ReadAt = tokenkeeper.EventType(typ), tm(created), tm(read)
	return &n, seq, nil
}

// queryNotifications runs a query selecting notificationColumns; it returns
// the rows and their sequence numbers.
func (s *Store) queryNotifications(ctx context.Context, q string, args ...any) ([]*tokenkeeper.Notification, []int64, error) {
	rows, err := s.pool.Query(ctx, q, args...)
	if err != nil {
		return nil, nil, mapError(err)
	}
	return scanWithSeq(rows, scanNotification)
}

// ListNotifications returns f.UserID's notifications, newest first, at most
// f.Limit (100 when 0 or less, at most 1000), and the cursor of the next page.
func (s *Store) ListNotifications(ctx context.Context, f tokenkeeper.NotificationFilter) ([]*tokenkeeper.Notification, string, error) {
	before, err := parseCursor(f.After)
	if err != nil {
		return nil, "", fmt.Errorf("list notifications: %w", err)
	}
	limit := historyLimit(f.Limit)
	q := `SELECT ` + notificationColumns + ` FROM notifications WHERE user_id = $1 AND ($2::bigint = 0 OR seq < $2::bigint)`
	if f.UnreadOnly {
		q += ` AND read_at IS NULL`
	}
	ns, seqs, err := s.queryNotifications(ctx, q+` ORDER BY seq DESC LIMIT $3`, f.UserID, before, limit+1)
	if err != nil {
		return nil, "", fmt.Errorf("list notifications: %w", err)
	}
	if len(ns) <= limit {
		return ns, "", nil
	}
	return ns[:limit], strconv.FormatInt(seqs[limit-1], 10), nil
}

// MarkNotificationRead sets read_at to now unless the notification was read
// before, and returns it; an error wrapping tokenkeeper.ErrNotFound for an
// unknown id.
func (s *Store) MarkNotificationRead(ctx context.Context, id string, now time.Time) (*tokenkeeper.Notification, error) {
	n, _, err := scanNotification(s.pool.QueryRow(ctx, `UPDATE notifications SET read_at = COALESCE(read_at, $1)
		WHERE id = $2 RETURNING `+notificationColumns, ms(now), id))
	if err != nil {
		return nil, fmt.Errorf("mark notification %s read: %w", id, err)
	}
	return n, nil
}

// PendingDigests returns up to limit notifications (100 when 0 or less, at
// most 1000) waiting for a digest and created before `before`, ordered by
// user, then creation.
func (s *Store) PendingDigests(ctx context.Context, before time.Time, limit int) ([]*tokenkeeper.Notification, error) {
	ns, _, err := s.queryNotifications(ctx, `SELECT `+notificationColumns+` FROM notifications
		WHERE digest_pending AND created_at < $1 ORDER BY user_id, created_at, seq LIMIT $2`, ms(before), historyLimit(limit))
	if err != nil {
		return nil, fmt.Errorf("list pending digests: %w", err)
	}
	return ns, nil
}

// CreateDigest inserts the digest delivery d and clears digest_pending on the
// notifications named, in one transaction; when d.Key exists it writes
// nothing and returns false.
func (s *Store) CreateDigest(ctx context.Context, d *tokenkeeper.Delivery, notificationIDs []string) (bool, error) {
	var added int
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		var err error
		if added, err = insertDeliveries(ctx, tx, []*tokenkeeper.Delivery{d}); err != nil || added == 0 {
			return err
		}
		_, err = tx.Exec(ctx, `UPDATE notifications SET digest_pending = FALSE WHERE id = ANY($1)`, notificationIDs)
		if err != nil {
			return fmt.Errorf("clear digests: %w", mapError(err))
		}
		return nil
	})
	if err != nil {
		return false, fmt.Errorf("create digest %s: %w", d.Key, err)
	}
	return added > 0, nil
}
