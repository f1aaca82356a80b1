package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/tokenkeeper/tokenkeeper"
)

// AcquireNamedLease takes the named lease for owner until `until` when it is
// free, expired at now (until < now) or already owner's (then it is moved to
// `until`), and reports whether owner holds it afterwards.
func (s *Store) AcquireNamedLease(ctx context.Context, name, owner string, now, until time.Time) (bool, error) {
	var held bool
	err := s.write(ctx, func(tx *sql.Tx) error {
		var got string
		err := tx.QueryRowContext(ctx, `INSERT INTO leases (name, owner, until) VALUES (?, ?, ?)
			ON CONFLICT (name) DO UPDATE SET owner = excluded.owner, until = excluded.until
			WHERE leases.until < ? OR leases.owner = excluded.owner
			RETURNING owner`, name, owner, until.UnixMilli(), now.UnixMilli()).Scan(&got)
		switch err = mapErr(err); {
		case errors.Is(err, tokenkeeper.ErrNotFound): // no row updated: held by someone else
			return nil
		case err != nil:
			return err
		}
		held = got == owner
		return nil
	})
	if err != nil {
		return false, fmt.Errorf("acquire lease %s: %w", name, err)
	}
	return held, nil
}

// ReleaseNamedLease frees the named lease if owner holds it; otherwise it
// does nothing.
func (s *Store) ReleaseNamedLease(ctx context.Context, name, owner string) error {
	err := s.write(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `DELETE FROM leases WHERE name = ? AND owner = ?`, name, owner)
		return mapErr(err)
	})
	if err != nil {
		return fmt.Errorf("release lease %s: %w", name, err)
	}
	return nil
}
