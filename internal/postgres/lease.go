package postgres

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tokenkeeper/tokenkeeper"
)

// A lease is held through its `until` instant and free strictly after it:
// lease_until < now means expired.

// takeOver is the assignment that records, when a lease changes hands
// without having been released (its holder was killed or stalled), that a
// refresh may have been interrupted; $2 (AcquireLease) or $1 (ClaimDue) is
// the new owner, hence the two forms. Every assignment of an UPDATE reads
// the row as it was before it.
const (
	takeOver      = `refresh_interrupted = refresh_interrupted OR (lease_owner IS NOT NULL AND lease_owner <> $2)`
	claimTakeOver = `refresh_interrupted = refresh_interrupted OR (lease_owner IS NOT NULL AND lease_owner <> $1)`
)

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
	for range acquireTries {
		var err error
		c, err = scanConnection(s.pool.QueryRow(ctx, `UPDATE connections SET `+takeOver+`, lease_owner = $2, lease_until = $4
			WHERE id = $1 AND (lease_owner IS NULL OR lease_until IS NULL OR lease_until < $3 OR lease_owner = $2)
			RETURNING `+connectionColumns, id, owner, ts(now), ts(until)))
		if err == nil {
			return c, nil
		}
		if !errors.Is(err, tokenkeeper.ErrNotFound) {
			return nil, fmt.Errorf("acquire lease of %s: %w", id, err)
		}
		// No row updated: either there is no such connection or someone
		// else holds the lease. Reading it tells which, and the holder's
		// expiry.
		c, err = scanConnection(s.pool.QueryRow(ctx, `SELECT `+connectionColumns+` FROM connections WHERE id = $1`, id))
		if err != nil {
			return nil, fmt.Errorf("acquire lease of %s: %w", id, err)
		}
		if c.LeaseOwner != "" && c.LeaseOwner != owner && !c.LeaseUntil.IsZero() && !c.LeaseUntil.Before(ms(now)) {
			return c, fmt.Errorf("acquire lease of %s: %w", id, tokenkeeper.ErrLeaseHeld)
		}
		// Released or expired between the two statements: try again.
	}
	return c, fmt.Errorf("acquire lease of %s: %w", id, tokenkeeper.ErrLeaseHeld)
}

// acquireTries bounds AcquireLease's attempts when the lease changes hands
// between its update and its read.
const acquireTries = 3

// MarkRefreshInterrupted sets refresh_interrupted on connection id if owner
// holds its lease (expired or not); otherwise, and for an unknown id, it
// does nothing.
func (s *Store) MarkRefreshInterrupted(ctx context.Context, id, owner string) error {
	_, err := s.pool.Exec(ctx, `UPDATE connections SET refresh_interrupted = TRUE WHERE id = $1 AND lease_owner = $2`, id, owner)
	if err != nil {
		return fmt.Errorf("mark the refresh of %s interrupted: %w", id, mapError(err))
	}
	return nil
}

// ReleaseLease frees the lease of connection id if owner holds it (expired
// or not); otherwise, and for an unknown id, it does nothing.
func (s *Store) ReleaseLease(ctx context.Context, id, owner string) error {
	_, err := s.pool.Exec(ctx, `UPDATE connections SET lease_owner = NULL, lease_until = NULL
		WHERE id = $1 AND lease_owner = $2`, id, owner)
	if err != nil {
		return fmt.Errorf("release lease of %s: %w", id, mapError(err))
	}
	return nil
}

// ClaimDue leases to owner, until `until`, at most limit connected
// connections whose next_refresh_at is at or before now and whose lease is
// free or expired (before now), oldest next_refresh_at first, restricted to
// providers when that is not empty, and returns them in that order.
// Claiming a row whose expired lease another owner never released sets
// refresh_interrupted.
//
// One statement does it (see claimDueSQL): the due ids are read through the
// partial index connections_due and locked with FOR UPDATE SKIP LOCKED, so
// concurrent claimers in any number of processes skip each other's rows and
// never claim a row twice, and the cost grows with the due rows, not with
// the rows stored.
func (s *Store) ClaimDue(ctx context.Context, owner string, now, until time.Time, limit int, providers []string) ([]*tokenkeeper.Connection, error) {
	if limit <= 0 {
		return nil, nil
	}
	args := []any{owner, ts(until), ts(now), limit}
	if len(providers) > 0 {
		args = append(args, providers)
	}
	rows, err := s.pool.Query(ctx, claimDueSQL(len(providers) > 0), args...)
	if err != nil {
		return nil, fmt.Errorf("claim due connections: %w", mapError(err))
	}
	out, err := scanConnections(rows)
	if err != nil {
		return nil, fmt.Errorf("claim due connections: %w", err)
	}
	// RETURNING has no order of its own.
	slices.SortStableFunc(out, func(a, b *tokenkeeper.Connection) int {
		if c := a.NextRefreshAt.Compare(b.NextRefreshAt); c != 0 {
			return c
		}
		return cmp.Compare(a.ID, b.ID)
	})
	return out, nil
}

// claimDueSQL returns ClaimDue's statement: $1 owner, $2 until, $3 now,
// $4 limit and, with byProvider, $5 the providers.
//
// The ids are chosen and locked by an ARRAY(SELECT … FOR UPDATE SKIP
// LOCKED) subquery, which PostgreSQL runs once, before the update, as an
// init plan; the update then reaches the rows by primary key. (An IN
// (SELECT …) or a join with a CTE can be planned as a hash join over a
// sequential scan of connections once the statement is cached with a
// generic plan.) The subquery repeats the predicate of the partial index
// connections_due and orders by its column, so it reads due rows only.
// PostgreSQL has no index hints: the provider filter compares an
// expression provider || ”, which the planner cannot match to
// connections_provider_status, an index that would read every connected
// row of those providers.
func claimDueSQL(byProvider bool) string {
	filter := ""
	if byProvider {
		filter = ` AND (provider || '') = ANY($5::text[])`
	}
	return `UPDATE connections SET ` + claimTakeOver + `, lease_owner = $1, lease_until = $2
	WHERE id = ANY(ARRAY(
		SELECT id FROM connections
		WHERE status = 'connected' AND next_refresh_at IS NOT NULL AND next_refresh_at <= $3
		  AND (lease_until IS NULL OR lease_until < $3)` + filter + `
		ORDER BY next_refresh_at
		LIMIT $4
		FOR UPDATE SKIP LOCKED))
	RETURNING ` + connectionColumns
}

// nextDueSQL selects NextDue's answer through the partial index.
const nextDueSQL = `SELECT next_refresh_at FROM connections
	WHERE status = 'connected' AND next_refresh_at IS NOT NULL AND lease_owner IS NULL
	ORDER BY next_refresh_at LIMIT 1`

// NextDue returns the earliest next_refresh_at of a connected connection
// that nobody holds a lease on (lease_owner unset; an expired lease that was
// never released counts as held here, since NextDue has no "now": the
// scheduler's poll finds such rows), and false when there is none.
func (s *Store) NextDue(ctx context.Context) (time.Time, bool, error) {
	var next time.Time
	err := s.pool.QueryRow(ctx, nextDueSQL).Scan(&next)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return time.Time{}, false, nil
	case err != nil:
		return time.Time{}, false, fmt.Errorf("read next due time: %w", mapError(err))
	}
	return next.UTC(), true, nil
}

// AcquireNamedLease takes the named lease for owner until `until` when it is
// free, expired at now (until < now) or already owner's (then it is moved to
// `until`), and reports whether owner holds it afterwards. One upsert does
// it, so concurrent callers in any process agree on one holder.
func (s *Store) AcquireNamedLease(ctx context.Context, name, owner string, now, until time.Time) (bool, error) {
	var got string
	err := s.pool.QueryRow(ctx, `INSERT INTO leases (name, owner, until) VALUES ($1, $2, $3)
		ON CONFLICT (name) DO UPDATE SET owner = excluded.owner, until = excluded.until
		WHERE leases.until < $4 OR leases.owner = excluded.owner
		RETURNING owner`, name, owner, ms(until), ms(now)).Scan(&got)
	switch {
	case errors.Is(err, pgx.ErrNoRows): // held by someone else
		return false, nil
	case err != nil:
		return false, fmt.Errorf("acquire lease %s: %w", name, mapError(err))
	}
	return got == owner, nil
}

// ReleaseNamedLease frees the named lease if owner holds it; otherwise it
// does nothing.
func (s *Store) ReleaseNamedLease(ctx context.Context, name, owner string) error {
	_, err := s.pool.Exec(ctx, `DELETE FROM leases WHERE name = $1 AND owner = $2`, name, owner)
	if err != nil {
		return fmt.Errorf("release lease %s: %w", name, mapError(err))
	}
	return nil
}
