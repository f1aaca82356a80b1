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

// takeOver is the assignment that records, when a lease changes hands
// without having been released (its holder was killed or stalled), that a
// refresh may have been interrupted. Its one parameter is the new owner.
// Every assignment of an UPDATE reads the row as it was before it.
const takeOver = `refresh_interrupted = CASE WHEN lease_owner IS NOT NULL AND lease_owner <> ? THEN 1 ELSE refresh_interrupted END`

// acquireLeaseQuery is AcquireLease's UPDATE; its parameters are owner (for
// takeOver), owner, until, id, now and owner.
const acquireLeaseQuery = `UPDATE connections SET ` + takeOver + `, lease_owner = ?, lease_until = ?
			WHERE id = ? AND (lease_owner IS NULL OR lease_until IS NULL OR lease_until < ? OR lease_owner = ?)
			RETURNING ` + connColumns

// AcquireLease takes the refresh lease of connection id for owner until
// `until` when it is free, expired at now, or already owner's (then it is
// moved to `until`), and returns the connection with the new lease. The
// version does not change. When another owner holds it, it returns the
// stored connection (so the caller sees LeaseOwner and LeaseUntil) together
// with an error wrapping tokenkeeper.ErrLeaseHeld; for an unknown id an
// error wrapping tokenkeeper.ErrNotFound. Taking over another owner's
// expired lease sets refresh_interrupted (see takeOver).
func (s *Store) AcquireLease(ctx context.Context, id, owner string, now, until time.Time) (*tokenkeeper.Connection, error) {
	var c *tokenkeeper.Connection
	var held bool
	ws, err := s.writes.get(ctx)
	if err != nil {
		return nil, fmt.Errorf("acquire lease of %s: %w", id, err)
	}
	err = s.write(ctx, func(tx *sql.Tx) error {
		var err error
		c, err = scanConnection(tx.StmtContext(ctx, ws.acquireLease).QueryRowContext(ctx,
			owner, owner, until.UnixMilli(), id, now.UnixMilli(), owner))
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

// releaseLeaseQuery is ReleaseLease's UPDATE; its parameters are id and
// owner.
const releaseLeaseQuery = `UPDATE connections SET lease_owner = NULL, lease_until = NULL
			WHERE id = ? AND lease_owner = ?`

// MarkRefreshInterrupted sets refresh_interrupted on connection id if owner
// holds its lease (expired or not); otherwise, and for an unknown id, it
// does nothing. It is not on a hot path: its statement is not prepared.
func (s *Store) MarkRefreshInterrupted(ctx context.Context, id, owner string) error {
	err := s.write(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `UPDATE connections SET refresh_interrupted = 1 WHERE id = ? AND lease_owner = ?`, id, owner)
		return mapErr(err)
	})
	if err != nil {
		return fmt.Errorf("mark the refresh of %s interrupted: %w", id, err)
	}
	return nil
}

// ReleaseLease frees the lease of connection id if owner holds it (expired
// or not); otherwise, and for an unknown id, it does nothing.
func (s *Store) ReleaseLease(ctx context.Context, id, owner string) error {
	ws, err := s.writes.get(ctx)
	if err != nil {
		return fmt.Errorf("release lease of %s: %w", id, err)
	}
	err = s.write(ctx, func(tx *sql.Tx) error {
		_, err := tx.StmtContext(ctx, ws.releaseLease).ExecContext(ctx, id, owner)
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
// next_refresh_at, then id; nothing when limit <= 0. Claiming a row whose
// expired lease another owner never released sets refresh_interrupted.
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
	ws, err := s.writes.get(ctx)
	if err != nil {
		return nil, fmt.Errorf("claim due connections: %w", err)
	}
	var cs []*tokenkeeper.Connection
	err = s.write(ctx, func(tx *sql.Tx) error {
		var err error
		if len(providers) == 0 {
			cs, err = scanConnections(tx.StmtContext(ctx, ws.claimDue).QueryContext(ctx, args...))
		} else {
			// The filter's length varies with the providers: not prepared.
			cs, err = queryConnections(ctx, tx, q, args...)
		}
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

// claimQuery returns ClaimDue's statement and arguments. Without providers
// the statement is claimAllQuery, which the store prepares.
func claimQuery(owner string, now, until time.Time, limit int, providers []string) (string, []any) {
	args := []any{owner, owner, until.UnixMilli(), now.UnixMilli(), now.UnixMilli()}
	q := claimAllQuery
	if len(providers) > 0 {
		q = claimSQL(` AND provider IN (?` + strings.Repeat(`, ?`, len(providers)-1) + `)`)
		for _, p := range providers {
			args = append(args, p)
		}
	}
	return q, append(args, limit)
}

// claimAllQuery is ClaimDue's statement without a provider filter.
var claimAllQuery = claimSQL("")

// claimSQL returns ClaimDue's statement with filter, a condition on the
// candidate rows whose parameters come between now and the limit.
func claimSQL(filter string) string {
	return `UPDATE connections SET ` + takeOver + `, lease_owner = ?, lease_until = ?
		WHERE rowid IN (
			SELECT rowid FROM connections INDEXED BY connections_due
			WHERE status = 'connected' AND next_refresh_at IS NOT NULL AND next_refresh_at <= ?
				AND (lease_until IS NULL OR lease_until < ?)` + filter + `
			ORDER BY next_refresh_at LIMIT ?)
		RETURNING ` + connColumns
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
	rs, err := s.reads.get(ctx)
	if err != nil {
		return time.Time{}, false, fmt.Errorf("read next due time: %w", err)
	}
	var next sql.NullInt64
	err = mapErr(rs.nextDue.QueryRowContext(ctx).Scan(&next))
	switch {
	case errors.Is(err, tokenkeeper.ErrNotFound):
		return time.Time{}, false, nil
	case err != nil:
		return time.Time{}, false, fmt.Errorf("read next due time: %w", err)
	}
	return fromMillis(next), true, nil
}
