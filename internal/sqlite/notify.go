package sqlite

import (
	"cmp"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"time"

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
// It is one UPDATE in one IMMEDIATE transaction through the partial index
// events_undispatched, so concurrent claimers never get the same event.
func (s *Store) ClaimEvents(ctx context.Context, owner string, now, until time.Time, limit int) ([]tokenkeeper.StoredEvent, error) {
	if limit <= 0 {
		return nil, nil
	}
	var out []tokenkeeper.StoredEvent
	err := s.write(ctx, func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, `UPDATE events SET lease_owner = ?, lease_until = ?
			WHERE seq IN (SELECT seq FROM events INDEXED BY events_undispatched
				WHERE dispatched_at IS NULL AND (lease_until IS NULL OR lease_until < ?)
				ORDER BY seq LIMIT ?)
			RETURNING seq, payload`, owner, until.UnixMilli(), now.UnixMilli(), limit)
		if err != nil {
			return mapErr(err)
		}
		defer rows.Close()
		for rows.Next() {
			var e tokenkeeper.StoredEvent
			var payload string
			if err := rows.Scan(&e.Seq, &payload); err != nil {
				return mapErr(err)
			}
			if err := json.Unmarshal([]byte(payload), &e.Event); err != nil {
				return fmt.Errorf("decode event %d: %w", e.Seq, err)
			}
			out = append(out, e)
		}
		return mapErr(rows.Err())
	})
	if err != nil {
		return nil, fmt.Errorf("claim events: %w", err)
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
	err := s.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE events SET dispatched_at = ?, lease_owner = NULL, lease_until = NULL
			WHERE id = ? AND dispatched_at IS NULL AND lease_owner = ?`, d.At.UnixMilli(), d.EventID, d.Owner)
		if err != nil {
			return mapErr(err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return mapErr(err)
		} else if n == 0 {
			var seq int64
			if err := mapErr(tx.QueryRowContext(ctx, `SELECT seq FROM events WHERE id = ?`, d.EventID).Scan(&seq)); err != nil {
				return err
			}
			return tokenkeeper.ErrLeaseHeld
		}
		for _, n := range d.Notifications {
			if err := insertNotification(ctx, tx, n); err != nil {
				return err
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
	err := s.r.QueryRowContext(ctx, `SELECT count(*) FROM events INDEXED BY events_undispatched WHERE dispatched_at IS NULL`).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("count undispatched events: %w", mapErr(err))
	}
	return n, nil
}

// notificationColumns lists the notifications columns in scanNotification's order.
const notificationColumns = `seq, id, event_id, user_id, connection_id, provider, type, message, created_at, read_at, digest_pending`

// insertNotification adds n unless a notification of its event exists.
func insertNotification(ctx context.Context, tx *sql.Tx, n *tokenkeeper.Notification) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO notifications
		(id, event_id, user_id, connection_id, provider, type, message, created_at, read_at, digest_pending)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`,
		n.ID, n.EventID, n.UserID, n.ConnectionID, n.Provider, string(n.Type), n.Message,
		n.CreatedAt.UnixMilli(), millis(n.ReadAt), n.DigestPending)
	if err != nil {
		return fmt.Errorf("insert notification of event %s: %w", n.EventID, mapErr(err))
	}
	return nil
}

// scanNotification reads one row selected with notificationColumns.
func scanNotification(sc scanner) (*tokenkeeper.Notification, int64, error) {
	var n tokenkeeper.Notification
	var seq, created int64
	var read sql.NullInt64
	err := sc.Scan(&seq, &n.ID, &n.EventID, &n.UserID, &n.ConnectionID, &n.Provider, &n.Type, &n.Message,
		&created, &read, &n.DigestPending)
	if err != nil {
		return nil, 0, mapErr(err)
	}
	n.CreatedAt = time.UnixMilli(created).UTC()
	n.ReadAt = fromMillis(read)
	return &n, seq, nil
}

// queryNotifications runs a query selecting notificationColumns; it returns
// the rows and their sequence numbers.
func queryNotifications(ctx context.Context, db queryer, q string, args ...any) ([]*tokenkeeper.Notification, []int64, error) {
	return queryWithSeq(ctx, db, scanNotification, q, args...)
}

// queryWithSeq runs a query whose rows scan reads, each with its sequence
// number (the cursor of a listing), and returns them in order.
func queryWithSeq[T any](ctx context.Context, db queryer, scan func(scanner) (*T, int64, error), q string, args ...any) ([]*T, []int64, error) {
	rows, err := db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, nil, mapErr(err)
	}
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
	return out, seqs, mapErr(rows.Err())
}

// ListNotifications returns f.UserID's notifications, newest first, at most
// f.Limit (100 when 0 or less, at most 1000), and the cursor of the next page.
func (s *Store) ListNotifications(ctx context.Context, f tokenkeeper.NotificationFilter) ([]*tokenkeeper.Notification, string, error) {
	before, err := parseCursor(f.After)
	if err != nil {
		return nil, "", fmt.Errorf("list notifications: %w", err)
	}
	limit := historyLimit(f.Limit)
	q := `SELECT ` + notificationColumns + ` FROM notifications WHERE user_id = ?`
	args := []any{f.UserID}
	if before > 0 {
		q += ` AND seq < ?`
		args = append(args, before)
	}
	if f.UnreadOnly {
		q += ` AND read_at IS NULL`
	}
	q += ` ORDER BY seq DESC LIMIT ?`
	ns, seqs, err := queryNotifications(ctx, s.r, q, append(args, limit+1)...)
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
	var n *tokenkeeper.Notification
	err := s.write(ctx, func(tx *sql.Tx) error {
		var err error
		n, _, err = scanNotification(tx.QueryRowContext(ctx, `UPDATE notifications SET read_at = COALESCE(read_at, ?)
			WHERE id = ? RETURNING `+notificationColumns, now.UnixMilli(), id))
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("mark notification %s read: %w", id, err)
	}
	return n, nil
}

// PendingDigests returns up to limit notifications (100 when 0 or less, at
// most 1000) waiting for a digest and created before `before`, ordered by
// user, then creation.
func (s *Store) PendingDigests(ctx context.Context, before time.Time, limit int) ([]*tokenkeeper.Notification, error) {
	ns, _, err := queryNotifications(ctx, s.r, `SELECT `+notificationColumns+` FROM notifications
		INDEXED BY notifications_digest WHERE digest_pending = 1 AND created_at < ?
		ORDER BY user_id, created_at, seq LIMIT ?`, before.UnixMilli(), historyLimit(limit))
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
	err := s.write(ctx, func(tx *sql.Tx) error {
		var err error
		if added, err = insertDeliveries(ctx, tx, []*tokenkeeper.Delivery{d}); err != nil || added == 0 {
			return err
		}
		for _, id := range notificationIDs {
			if _, err := tx.ExecContext(ctx, `UPDATE notifications SET digest_pending = 0 WHERE id = ?`, id); err != nil {
				return fmt.Errorf("clear digest of notification %s: %w", id, mapErr(err))
			}
		}
		return nil
	})
	if err != nil {
		return false, fmt.Errorf("create digest %s: %w", d.Key, err)
	}
	return added > 0, nil
}
