package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tokenkeeper/tokenkeeper"
)

// SaveConnection writes w.Connection, then w.Attempts and w.Events, in one
// transaction. The update applies only when the stored version equals
// w.Connection.Version and, when w.LeaseOwner is set, the lease is recorded
// to that owner (expired or not: nobody else took it); it then stores
// Version+1, sets w.Connection.Version, and with w.LeaseOwner releases the
// lease (in the database and in w.Connection). Otherwise it writes nothing
// and returns an error wrapping tokenkeeper.ErrVersionConflict; an unknown
// connection is a conflict too.
//
// The id, user, provider and creation time are never changed by a save, and
// without w.LeaseOwner neither is the lease: a lease taken after the writer
// read the connection stays in place. Attempts without a ConnectionID are
// recorded against w.Connection.
func (s *Store) SaveConnection(ctx context.Context, w tokenkeeper.Write) error {
	return s.saveConnection(ctx, w, nil)
}

// saveConnection is SaveConnection; also, when non-nil, runs more in the
// same transaction after the connection's rows are written.
func (s *Store) saveConnection(ctx context.Context, w tokenkeeper.Write, also func(pgx.Tx) error) error {
	c := w.Connection
	args := append(saveValues(c), c.ID, c.Version)
	q := `UPDATE connections SET ` + saveColumns + `, version = version + 1`
	where := ` WHERE id = $21 AND version = $22`
	if w.LeaseOwner != "" {
		q += `, lease_owner = NULL, lease_until = NULL`
		where += ` AND lease_owner = $23`
		args = append(args, w.LeaseOwner)
	}
	attempts := make([]tokenkeeper.RefreshAttempt, len(w.Attempts))
	for i, a := range w.Attempts {
		if a.ConnectionID == "" {
			a.ConnectionID = c.ID
		}
		attempts[i] = a
	}
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, q+where, args...)
		if err != nil {
			return mapError(err)
		}
		if tag.RowsAffected() == 0 {
			return tokenkeeper.ErrVersionConflict
		}
		if err := insertAttempts(ctx, tx, attempts); err != nil {
			return err
		}
		if err := insertEvents(ctx, tx, w.Events); err != nil {
			return err
		}
		if also != nil {
			return also(tx)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("save connection %s: %w", c.ID, err)
	}
	c.Version++
	if w.LeaseOwner != "" {
		c.LeaseOwner, c.LeaseUntil = "", time.Time{}
	}
	return nil
}
