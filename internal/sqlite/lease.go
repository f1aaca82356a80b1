package sqlite

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/tokenkeeper/tokenkeeper"
)

// A lease is held through its `until` instant and free strictly after it:
// lease_until < now means expired.

// AcquireLease takes the refresh lease of connection id for owner until
// `until` when it is free, expired at now, or already owner's (then it is
// moved to `until`), and returns the connection with the new lease. The
// version does not change. When another owner holds it, it returns the
// stored connection (so the caller sees LeaseOwner and LeaseUntil) together
// with an error wrapping tokenkeeper.ErrLeaseHeld; for an unknown id an
// error wrapping tokenkeeper.ErrNotFound.
func (s *Store) AcquireLease(ctx context.Context, id, owner string, now, until time.Time) (*tokenkeeper.Connection, error) {
	var c *tokenkeeper.Connection
	var held bool
	err := s.write(ctx, func(tx *sql.Tx) error {
		var err error
		c, err = scanConnection(tx.QueryRowContext(ctx, `UPDATE connections SET lease_owner = ?, lease_until = ?
			WHERE id = ? AND (lease_owner IS NULL OR lease_until IS NULL OR lease_until < ? OR lease_owner = ?)
			RETURNING `+connColumns, owner, until.UnixMilli(), id, now.UnixMilli(), owner))
		if !errors.Is(err, tokenkeeper.ErrNotFound) {
			return err
		}
		// Not updated: someone else holds it, or there is no such row.
		c, err = scanConnection(tx.QueryRowContext(ctx, `SELECT `+connColumns+` FROM connections WHERE id = ?`, id))
		held = err == nil
		return err
	})
	switch {
	case err != nil:
		return nil, fmt.Errorf("acquire lease of %s: %w", id, err)
	case held:
		return c, fmt.Errorf("acquire lease of %s: %w", id, tokenkeeper.ErrLeaseHeld)
	}
	return c, nil
}

// ReleaseLease frees the lease of connection id if owner holds it (expired
// or not); otherwise, and for an unknown id, it does nothing.
func (s *Store) ReleaseLease(ctx context.Context, id, owner string) error {
	err := s.write(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `UPDATE connections SET lease_owner = NULL, lease_until = NULL
			WHERE id = ? AND lease_owner = ?`, id, owner)
		return mapErr(err)
	})
	if err != nil {
		return fmt.Errorf("release lease of %s: %w", id, err)
	}
	return nil
}

// ClaimDue leases to owner, until `until`, up to limit connected connections
// whose next_refresh_at is at or before now and whose lease is free or
// expired (lease_until < now), earliest next_refresh_at first, restricted to
// providers when that is not empty. It returns them ordered by
// next_refresh_at, then id; nothing when limit <= 0.
//
// It is one UPDATE in one IMMEDIATE transaction, so concurrent claimers (in
// this process or another on the same file) never get the same row. The
// candidate rows are read through the partial index connections_due only
// (INDEXED BY makes the statement fail rather than scan the table, and keeps
// the planner from preferring (provider, status) under a provider filter)
// and updated by rowid, so the cost grows with the number of due rows, not
// with the number stored.
func (s *Store) ClaimDue(ctx context.Context, owner string, now, until time.Time, limit int, providers []string) ([]*tokenkeeper.Connection, error) {
	if limit <= 0 {
		return nil, nil
	}
	q, args := claimQuery(owner, now, until, limit, providers)
	var cs []*tokenkeeper.Connection
	err := s.write(ctx, func(tx *sql.Tx) error {
		var err error
		cs, err = queryConnections(ctx, tx, q, args...)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("claim due connections: %w", err)
	}
	// RETURNING does not keep the subquery's order.
	slices.SortFunc(cs, func(a, b *tokenkeeper.Connection) int {
		return cmp.Or(a.NextRefreshAt.Compare(b.NextRefreshAt), strings.Compare(a.ID, b.ID))
	})
	return cs, nil
}

// claimQuery returns ClaimDue's statement and arguments.
func claimQuery(owner string, now, until time.Time, limit int, providers []string) (string, []any) {
	args := []any{owner, until.UnixMilli(), now.UnixMilli(), now.UnixMilli()}
	var filter string
	if len(providers) > 0 {
		filter = ` AND provider IN (?` + strings.Repeat(`, ?`, len(providers)-1) + `)`
		for _, p := range providers {
			args = append(args, p)
		}
	}
	args = append(args, limit)
	return `UPDATE connections SET lease_owner = ?, lease_until = ?
		WHERE rowid IN (
			SELECT rowid FROM connections INDEXED BY connections_due
			WHERE status = 'connected' AND next_refresh_at IS NOT NULL AND next_refresh_at <= ?
				AND (lease_until IS NULL OR lease_until < ?)` + filter + `
			ORDER BY next_refresh_at LIMIT ?)
		RETURNING ` + connColumns, args
}

// nextDueQuery selects NextDue's answer.
const nextDueQuery = `SELECT next_refresh_at FROM connections INDEXED BY connections_due
	WHERE status = 'connected' AND next_refresh_at IS NOT NULL AND lease_owner IS NULL
	ORDER BY next_refresh_at LIMIT 1`

// NextDue returns the earliest next_refresh_at of a connected connection
// that nobody holds a lease on (lease_owner unset; an expired lease that was
// never released counts as held here, since NextDue has no "now": the
// scheduler's poll finds such rows), and false when there is none. It reads
// the partial index connections_due.
func (s *Store) NextDue(ctx context.Context) (time.Time, bool, error) {
	var next sql.NullInt64
	err := mapErr(s.r.QueryRowContext(ctx, nextDueQuery).Scan(&next))
	switch {
	case errors.Is(err, tokenkeeper.ErrNotFound):
		return time.Time{}, false, nil
	case err != nil:
		return time.Time{}, false, fmt.Errorf("read next due time: %w", err)
	}
	return fromMillis(next), true, nil
}
