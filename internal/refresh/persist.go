package refresh

import (
	"context"
	"errors"
	"time"

	"github.com/tokenkeeper/tokenkeeper"
)

// Pauses between attempts to store a refresh's new tokens.
const (
	firstStorePause = 50 * time.Millisecond
	maxStorePause   = time.Second
)

// saveOutcome writes n, the connection after the provider's answer o. When
// o carries new tokens and the write fails for any reason but a conflict (a
// database restart, a connection pool at its limit), it tries again with
// growing pauses for as long as c's lease, taken before the call, still
// keeps every other replica from refreshing the connection: the new tokens
// exist only in this process's memory and, after a rotation, the stored
// refresh token is already spent, so giving up loses the user's grant. A
// conflict is final: another owner took the connection over. It reports
// whether the write happened.
func (r *Refresher) saveOutcome(ctx context.Context, c, n *tokenkeeper.Connection, attempts []tokenkeeper.RefreshAttempt, events []tokenkeeper.Event, o tokenkeeper.Outcome) (bool, error) {
	saved, err := r.save(ctx, n, attempts, events)
	if err == nil || o.Class != tokenkeeper.ClassSuccess {
		return saved, err
	}
	// Pauses between database writes use real time, as lease's do.
	deadline := time.Now().Add(c.LeaseUntil.Sub(r.clock.Now()))
	for pause := firstStorePause; ; pause = min(2*pause, maxStorePause) {
		if errors.Is(err, tokenkeeper.ErrVersionConflict) || !time.Now().Add(pause).Before(deadline) {
			break
		}
		r.log.Warn("store refreshed tokens: retrying", "connection_id", n.ID, "provider", n.Provider, "err", err)
		select {
		case <-ctx.Done():
			return false, err
		case <-time.After(pause):
		}
		if saved, err = r.save(ctx, n, attempts, events); err == nil {
			return saved, nil
		}
	}
	r.log.Error("refreshed tokens could not be stored", "connection_id", n.ID, "provider", n.Provider, "rotated", o.Rotated, "err", err)
	return false, err
}
