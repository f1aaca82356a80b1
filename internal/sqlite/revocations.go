package sqlite

import (
	"cmp"
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/tokenkeeper/tokenkeeper"
)

// revocationColumns lists the pending_revocations columns in the order of
// scanRevocation.
const revocationColumns = `id, connection_id, provider, token_type_hint, token, attempts, last_code,
	created_at, next_attempt_at, lease_owner, lease_until`

// SaveConnectionRevoking is SaveConnection that also inserts r, in the same
// transaction: the connection's update (conditional on its version and, with
// w.LeaseOwner, its lease), w.Attempts, w.Events and r are written together
// or not at all.
func (s *Store) SaveConnectionRevoking(ctx context.Context, w tokenkeeper.Write, r *tokenkeeper.PendingRevocation) error {
	return s.saveConnection(ctx, w, func(tx *sql.Tx) error { return insertRevocation(ctx, tx, r) })
}

// EnqueueRevocation stores r.
func (s *Store) EnqueueRevocation(ctx context.Context, r *tokenkeeper.PendingRevocation) error {
	err := s.write(ctx, func(tx *sql.Tx) error { return insertRevocation(ctx, tx, r) })
	if err != nil {
		return fmt.Errorf("enqueue revocation: %w", err)
	}
	return nil
}

func insertRevocation(ctx context.Context, tx *sql.Tx, r *tokenkeeper.PendingRevocation) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO pending_revocations (`+revocationColumns+`)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		r.ID, r.ConnectionID, r.Provider, r.TokenTypeHint, r.SealedToken, r.Attempts, r.LastCode,
		r.CreatedAt.UnixMilli(), r.NextAttemptAt.UnixMilli(), nullString(r.LeaseOwner), millis(r.LeaseUntil))
	if err != nil {
		return fmt.Errorf("insert revocation %s: %w", r.ID, mapErr(err))
	}
	return nil
}

// ClaimRevocations leases up to limit due revocations with a free or expired
// lease to owner until `until`, in one UPDATE, and returns them ordered by
// NextAttemptAt, then id.
func (s *Store) ClaimRevocations(ctx context.Context, owner string, now, until time.Time, limit int) ([]*tokenkeeper.PendingRevocation, error) {
	if limit <= 0 {
		return nil, nil
	}
	var out []*tokenkeeper.PendingRevocation
	err := s.write(ctx, func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, `UPDATE pending_revocations SET lease_owner = ?, lease_until = ?
			WHERE id IN (SELECT id FROM pending_revocations
				WHERE next_attempt_at <= ? AND (lease_until IS NULL OR lease_until < ?)
				ORDER BY next_attempt_at LIMIT ?)
			RETURNING `+revocationColumns, owner, until.UnixMilli(), now.UnixMilli(), now.UnixMilli(), limit)
		if err != nil {
			return mapErr(err)
		}
		defer rows.Close()
		for rows.Next() {
			r, err := scanRevocation(rows)
			if err != nil {
				return err
			}
			out = append(out, r)
		}
		return mapErr(rows.Err())
	})
	if err != nil {
		return nil, fmt.Errorf("claim revocations: %w", err)
	}
	slices.SortFunc(out, func(a, b *tokenkeeper.PendingRevocation) int {
		return cmp.Or(a.NextAttemptAt.Compare(b.NextAttemptAt), strings.Compare(a.ID, b.ID))
	})
	return out, nil
}

// RetryRevocation records a failed attempt and releases owner's lease.
func (s *Store) RetryRevocation(ctx context.Context, r *tokenkeeper.PendingRevocation, owner string) error {
	err := s.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE pending_revocations
			SET attempts = ?, last_code = ?, next_attempt_at = ?, lease_owner = NULL, lease_until = NULL
			WHERE id = ? AND lease_owner = ?`, r.Attempts, r.LastCode, r.NextAttemptAt.UnixMilli(), r.ID, owner)
		if err != nil {
			return mapErr(err)
		}
		return oneRow(res, tokenkeeper.ErrVersionConflict)
	})
	if err != nil {
		return fmt.Errorf("retry revocation %s: %w", r.ID, err)
	}
	r.LeaseOwner, r.LeaseUntil = "", time.Time{}
	return nil
}

// DeleteRevocation erases a revocation leased by owner.
func (s *Store) DeleteRevocation(ctx context.Context, id, owner string) error {
	err := s.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM pending_revocations WHERE id = ? AND lease_owner = ?`, id, owner)
		if err != nil {
			return mapErr(err)
		}
		return oneRow(res, tokenkeeper.ErrVersionConflict)
	})
	if err != nil {
		return fmt.Errorf("delete revocation %s: %w", id, err)
	}
	return nil
}

// CountRevocations returns the number of pending revocations.
func (s *Store) CountRevocations(ctx context.Context) (int, error) {
	var n int
	if err := s.r.QueryRowContext(ctx, `SELECT COUNT(*) FROM pending_revocations`).Scan(&n); err != nil {
		return 0, fmt.Errorf("count revocations: %w", mapErr(err))
	}
	return n, nil
}

// ListRevocations returns pending revocations ordered by id after `after`,
// at most limit (100 when limit <= 0), leased ones included.
func (s *Store) ListRevocations(ctx context.Context, after string, limit int) ([]*tokenkeeper.PendingRevocation, error) {
	if limit <= 0 {
		limit = 100
	}
	rows, err := s.r.QueryContext(ctx, `SELECT `+revocationColumns+` FROM pending_revocations
		WHERE id > ? ORDER BY id LIMIT ?`, after, limit)
	if err != nil {
		return nil, fmt.Errorf("list revocations: %w", mapErr(err))
	}
	defer rows.Close()
	var out []*tokenkeeper.PendingRevocation
	for rows.Next() {
		r, err := scanRevocation(rows)
		if err != nil {
			return nil, fmt.Errorf("list revocations: %w", err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list revocations: %w", mapErr(err))
	}
	return out, nil
}

// ResealRevocation replaces the revocation's token by sealed if it is still
// old and its lease is free or expired at now, in one write transaction;
// when it is not, it returns the token stored.
func (s *Store) ResealRevocation(ctx context.Context, id string, old, sealed []byte, now time.Time) ([]byte, error) {
	if len(sealed) == 0 {
		return nil, fmt.Errorf("reseal revocation %s: empty sealed value", id)
	}
	var stored []byte
	err := s.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE pending_revocations SET token = ?
			WHERE id = ? AND token = ? AND (lease_until IS NULL OR lease_until < ?)`, sealed, id, old, now.UnixMilli())
		if err != nil {
			return mapErr(err)
		}
		if n, err := res.RowsAffected(); err != nil || n == 1 {
			stored = sealed
			return mapErr(err)
		}
		return mapErr(tx.QueryRowContext(ctx, `SELECT token FROM pending_revocations WHERE id = ?`, id).Scan(&stored))
	})
	if err != nil {
		return nil, fmt.Errorf("reseal revocation %s: %w", id, err)
	}
	return stored, nil
}

// scanRevocation reads one row selected with revocationColumns.
func scanRevocation(sc scanner) (*tokenkeeper.PendingRevocation, error) {
	var (
		r             tokenkeeper.PendingRevocation
		created, next int64
		owner         sql.NullString
		until         sql.NullInt64
	)
	err := sc.Scan(&r.ID, &r.ConnectionID, &r.Provider, &r.TokenTypeHint, &r.SealedToken, &r.Attempts, &r.LastCode,
		&created, &next, &owner, &until)
	if err != nil {
		return nil, mapErr(err)
	}
	r.CreatedAt = time.UnixMilli(created).UTC()
	r.NextAttemptAt = time.UnixMilli(next).UTC()
	r.LeaseOwner, r.LeaseUntil = owner.String, fromMillis(until)
	return &r, nil
}
