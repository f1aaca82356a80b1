package postgres

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/tokenkeeper/tokenkeeper"
)

// revocationColumns is the select list scanRevocation reads, in its order.
const revocationColumns = `id, connection_id, provider, token_type_hint, token, attempts, last_code,
	created_at, next_attempt_at, lease_owner, lease_until`

// SaveConnectionRevoking is SaveConnection that also inserts r, in the same
// transaction: the connection's update (conditional on its version and, with
// w.LeaseOwner, its lease), w.Attempts, w.Events and r are written together
// or not at all.
func (s *Store) SaveConnectionRevoking(ctx context.Context, w tokenkeeper.Write, r *tokenkeeper.PendingRevocation) error {
	return s.saveConnection(ctx, w, func(tx pgx.Tx) error { return insertRevocation(ctx, tx, r) })
}

// EnqueueRevocation stores r.
func (s *Store) EnqueueRevocation(ctx context.Context, r *tokenkeeper.PendingRevocation) error {
	err := s.inTx(ctx, func(tx pgx.Tx) error { return insertRevocation(ctx, tx, r) })
	if err != nil {
		return fmt.Errorf("enqueue revocation: %w", err)
	}
	return nil
}

func insertRevocation(ctx context.Context, tx pgx.Tx, r *tokenkeeper.PendingRevocation) error {
	_, err := tx.Exec(ctx, `INSERT INTO pending_revocations (`+revocationColumns+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`,
		r.ID, r.ConnectionID, r.Provider, r.TokenTypeHint, r.SealedToken, r.Attempts, r.LastCode,
		ms(r.CreatedAt), ms(r.NextAttemptAt), textOrNil(r.LeaseOwner), ts(r.LeaseUntil))
	if err != nil {
		return fmt.Errorf("insert revocation %s: %w", r.ID, mapError(err))
	}
	return nil
}

// ClaimRevocations leases up to limit due revocations with a free or expired
// lease to owner until `until`, in one UPDATE whose candidates are locked
// with FOR UPDATE SKIP LOCKED, and returns them ordered by NextAttemptAt,
// then id.
func (s *Store) ClaimRevocations(ctx context.Context, owner string, now, until time.Time, limit int) ([]*tokenkeeper.PendingRevocation, error) {
	if limit <= 0 {
		return nil, nil
	}
	rows, err := s.pool.Query(ctx, `UPDATE pending_revocations SET lease_owner = $1, lease_until = $2
		WHERE id = ANY(ARRAY(
			SELECT id FROM pending_revocations
			WHERE next_attempt_at <= $3 AND (lease_until IS NULL OR lease_until < $3)
			ORDER BY next_attempt_at
			LIMIT $4
			FOR UPDATE SKIP LOCKED))
		RETURNING `+revocationColumns, owner, ms(until), ms(now), limit)
	if err != nil {
		return nil, fmt.Errorf("claim revocations: %w", mapError(err))
	}
	defer rows.Close()
	var out []*tokenkeeper.PendingRevocation
	for rows.Next() {
		r, err := scanRevocation(rows)
		if err != nil {
			return nil, fmt.Errorf("claim revocations: %w", err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("claim revocations: %w", mapError(err))
	}
	slices.SortFunc(out, func(a, b *tokenkeeper.PendingRevocation) int {
		return cmp.Or(a.NextAttemptAt.Compare(b.NextAttemptAt), strings.Compare(a.ID, b.ID))
	})
	return out, nil
}

// RetryRevocation records a failed attempt and releases owner's lease.
func (s *Store) RetryRevocation(ctx context.Context, r *tokenkeeper.PendingRevocation, owner string) error {
	tag, err := s.pool.Exec(ctx, `UPDATE pending_revocations
		SET attempts = $3, last_code = $4, next_attempt_at = $5, lease_owner = NULL, lease_until = NULL
		WHERE id = $1 AND lease_owner = $2`, r.ID, owner, r.Attempts, r.LastCode, ms(r.NextAttemptAt))
	if err != nil {
		return fmt.Errorf("retry revocation %s: %w", r.ID, mapError(err))
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("retry revocation %s: %w", r.ID, tokenkeeper.ErrVersionConflict)
	}
	r.LeaseOwner, r.LeaseUntil = "", time.Time{}
	return nil
}

// DeleteRevocation erases a revocation leased by owner.
func (s *Store) DeleteRevocation(ctx context.Context, id, owner string) error {
	tag, err := s.pool.Exec(ctx, `DELETE FROM pending_revocations WHERE id = $1 AND lease_owner = $2`, id, owner)
	if err != nil {
		return fmt.Errorf("delete revocation %s: %w", id, mapError(err))
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("delete revocation %s: %w", id, tokenkeeper.ErrVersionConflict)
	}
	return nil
}

// CountRevocations returns the number of pending revocations.
func (s *Store) CountRevocations(ctx context.Context) (int, error) {
	var n int
	if err := s.pool.QueryRow(ctx, `SELECT COUNT(*) FROM pending_revocations`).Scan(&n); err != nil {
		return 0, fmt.Errorf("count revocations: %w", mapError(err))
	}
	return n, nil
}

// ListRevocations returns pending revocations ordered by id after `after`,
// at most limit (100 when limit <= 0), leased ones included.
func (s *Store) ListRevocations(ctx context.Context, after string, limit int) ([]*tokenkeeper.PendingRevocation, error) {
	if limit <= 0 {
		limit = 100
	}
	rows, err := s.pool.Query(ctx, `SELECT `+revocationColumns+` FROM pending_revocations
		WHERE id > $1 ORDER BY id LIMIT $2`, after, limit)
	if err != nil {
		return nil, fmt.Errorf("list revocations: %w", mapError(err))
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
		return nil, fmt.Errorf("list revocations: %w", mapError(err))
	}
	return out, nil
}

// ResealRevocation replaces the revocation's token by sealed if it is still
// old and its lease is free or expired at now, in one UPDATE (which waits for
// a concurrent claim of the row and then rechecks the condition); when it is
// not, it returns the token stored.
func (s *Store) ResealRevocation(ctx context.Context, id string, old, sealed []byte, now time.Time) ([]byte, error) {
	if len(sealed) == 0 {
		return nil, fmt.Errorf("reseal revocation %s: empty sealed value", id)
	}
	tag, err := s.pool.Exec(ctx, `UPDATE pending_revocations SET token = $3
		WHERE id = $1 AND token = $2 AND (lease_until IS NULL OR lease_until < $4)`, id, old, sealed, ms(now))
	if err != nil {
		return nil, fmt.Errorf("reseal revocation %s: %w", id, mapError(err))
	}
	if tag.RowsAffected() == 1 {
		return sealed, nil
	}
	var stored []byte
	if err := s.pool.QueryRow(ctx, `SELECT token FROM pending_revocations WHERE id = $1`, id).Scan(&stored); err != nil {
		return nil, fmt.Errorf("reseal revocation %s: %w", id, mapError(err))
	}
	return stored, nil
}

// scanRevocation reads one row of revocationColumns.
func scanRevocation(row pgx.Row) (*tokenkeeper.PendingRevocation, error) {
	var (
		r                    tokenkeeper.PendingRevocation
		created, next, until pgtype.Timestamptz
		owner                pgtype.Text
	)
	err := row.Scan(&r.ID, &r.ConnectionID, &r.Provider, &r.TokenTypeHint, &r.SealedToken, &r.Attempts, &r.LastCode,
		&created, &next, &owner, &until)
	if err != nil {
		return nil, mapError(err)
	}
	r.CreatedAt, r.NextAttemptAt = tm(created), tm(next)
	r.LeaseOwner, r.LeaseUntil = owner.String, tm(until)
	return &r, nil
}
