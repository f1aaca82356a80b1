package refresh

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/tokenkeeper/tokenkeeper"
)

// firstRevocationRetry is how long after a failed revocation at disconnect
// the first retry is due, unless the provider asked for longer (Retry-After).
const firstRevocationRetry = 30 * time.Second

// owedRevocation returns the revocation still owed for tok after the
// transient failure o at disconnect: tok sealed under a new revocation id, due
// for a retry soon. It returns nil when the store cannot keep one (it does
// not implement tokenkeeper.ConnectStore) or sealing fails; the failure is
// then only in the history, as before.
func (r *Refresher) owedRevocation(c *tokenkeeper.Connection, tok tokenkeeper.Secret, hint string, o tokenkeeper.Outcome, now time.Time) *tokenkeeper.PendingRevocation {
	if _, ok := r.store.(tokenkeeper.ConnectStore); !ok {
		return nil
	}
	p := &tokenkeeper.PendingRevocation{
		ID: tokenkeeper.NewID("rev_"), ConnectionID: c.ID, Provider: c.Provider, TokenTypeHint: hint,
		Attempts: 1, LastCode: o.Code, CreatedAt: now, NextAttemptAt: now.Add(max(firstRevocationRetry, o.RetryAfter)),
	}
	sealed, err := r.sealField(p.ID, tokenkeeper.FieldRevocationToken, tok)
	if err != nil || len(sealed) == 0 {
		r.log.Error("cannot keep the token for a later revocation", "connection_id", c.ID, "provider", c.Provider, "err", err)
		return nil
	}
	p.SealedToken = sealed
	return p
}

// saveDisconnect is save for a disconnect: with owed, the pending revocation
// is enqueued in the same write as the disconnected connection.
func (r *Refresher) saveDisconnect(ctx context.Context, n *tokenkeeper.Connection, attempts []tokenkeeper.RefreshAttempt, events []tokenkeeper.Event, owed *tokenkeeper.PendingRevocation) (bool, error) {
	cs, ok := r.store.(tokenkeeper.ConnectStore)
	if owed == nil || !ok {
		return r.save(ctx, n, attempts, events)
	}
	err := cs.SaveConnectionRevoking(ctx, tokenkeeper.Write{Connection: n, LeaseOwner: r.owner, Attempts: attempts, Events: events}, owed)
	if err != nil {
		if errors.Is(err, tokenkeeper.ErrVersionConflict) {
			return false, &tokenkeeper.Error{Code: tokenkeeper.CodeConflict, Message: "the connection changed during the disconnect", ConnectionID: n.ID, Err: err}
		}
		return false, err
	}
	r.log.LogAttrs(ctx, slog.LevelInfo, "revocation queued for retry", slog.String("connection_id", n.ID),
		slog.String("provider", n.Provider), slog.String("revocation_id", owed.ID), slog.Time("next_attempt_at", owed.NextAttemptAt))
	r.onSchedule(n.NextRefreshAt)
	return true, nil
}
