package refresh

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tokenkeeper/tokenkeeper"
	"github.com/tokenkeeper/tokenkeeper/internal/providertest"
)

// failingSaves is a store whose next SaveConnection calls fail, as they do
// while the database restarts or its connection limit is reached.
type failingSaves struct {
	tokenkeeper.Store
	failures atomic.Int32
	markDown atomic.Bool
}

var errDatabaseDown = errors.New("too many clients already")

func (s *failingSaves) SaveConnection(ctx context.Context, w tokenkeeper.Write) error {
	if s.failures.Add(-1) >= 0 {
		return errDatabaseDown
	}
	return s.Store.SaveConnection(ctx, w)
}

// MarkRefreshInterrupted fails too while markDown is set.
func (s *failingSaves) MarkRefreshInterrupted(ctx context.Context, id, owner string) error {
	if s.markDown.Load() {
		return errDatabaseDown
	}
	return s.Store.MarkRefreshInterrupted(ctx, id, owner)
}

// TestRotatedTokensSurviveFailedWrites: when the write of a rotated
// refresh token fails, the refresher tries again while its lease lasts,
// instead of dropping the only copy of the new token (the next refresh
// would then replay the spent one, and reuse detection would revoke the
// grant). A database that stays down longer than the lease loses the
// write, and the refresh reports the error; it leaves its lease to expire,
// so the next refresh takes it over, and when the provider then rejects
// the spent token the connection says that a refresh was interrupted.
func TestRotatedTokensSurviveFailedWrites(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		failures int32
		leaseTTL time.Duration
		stored   bool
		// sameProcess: the refresh after a lost write runs in the process
		// that lost it (else in another one).
		sameProcess bool
	}{
		{"a few failed writes", 3, time.Minute, true, false},
		{"down for longer than the lease", 1000, 300 * time.Millisecond, false, false},
		{"down for longer than the lease, same process again", 1000, 300 * time.Millisecond, false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := setup(t, fixtureOptions{provider: providertest.Options{Rotate: true, ReuseDetection: true}})
			c, g := f.link("u1", time.Hour)
			store := &failingSaves{Store: f.store}
			r := f.refresherWith(Options{Store: store, LeaseTTL: tt.leaseTTL})
			store.failures.Store(tt.failures)
			_, err := r.Refresh(t.Context(), c.ID, tokenkeeper.TriggerManual, "")
			if stored := err == nil; stored != tt.stored {
				t.Fatalf("Refresh: %v, want stored=%v", err, tt.stored)
			}
			if !tt.stored {
				got := f.get(c.ID)
				if got.Version != c.Version || got.LeaseOwner != r.Owner() {
					t.Fatalf("version %d, lease %q after a lost write; want %d, %s", got.Version, got.LeaseOwner, c.Version, r.Owner())
				}
				time.Sleep(time.Until(got.LeaseUntil.Add(10 * time.Millisecond)))
				store.failures.Store(0)
				next := f.keeper
				if tt.sameProcess {
					next = r
				}
				_, err := next.Refresh(t.Context(), c.ID, tokenkeeper.TriggerManual, "")
				if tokenkeeper.ErrorCode(err) != tokenkeeper.CodeNeedsReauth {
					t.Fatalf("refresh with the spent token: %v, want %s", err, tokenkeeper.CodeNeedsReauth)
				}
				got = f.get(c.ID)
				if got.Status != tokenkeeper.StatusNeedsReauth || got.LastError == nil || got.LastError.Code != tokenkeeper.CodeRefreshInterrupted {
					t.Fatalf("status %s, last error %+v; want needs_reauth, %s", got.Status, got.LastError, tokenkeeper.CodeRefreshInterrupted)
				}
				if f.provider.Reuses() != 1 {
					t.Fatalf("reuses %d, want 1", f.provider.Reuses())
				}
				return
			}
			// The stored refresh token is the rotated one: the next refresh
			// presents it, not the spent one.
			if _, err := f.keeper.Refresh(t.Context(), c.ID, tokenkeeper.TriggerManual, ""); err != nil {
				t.Fatalf("second refresh: %v", err)
			}
			if f.provider.Reuses() != 0 || !f.provider.Alive(g.RefreshToken.Reveal()) || f.provider.Refreshes() != 2 {
				t.Fatalf("reuses %d, alive %v, refreshes %d", f.provider.Reuses(), f.provider.Alive(g.RefreshToken.Reveal()), f.provider.Refreshes())
			}
			if got := f.get(c.ID); got.Status != tokenkeeper.StatusConnected || got.LeaseOwner != "" {
				t.Fatalf("status %s, lease %q", got.Status, got.LeaseOwner)
			}
		})
	}
}

// TestInterruptedMarkOutlivesIdleRefreshes: after a refresh whose rotated
// tokens could not be stored, refreshes that end without asking the
// provider (here: a caller reporting a token that is not the stored one)
// must not lose the mark, whether the store took the mark at once or, down
// at the time, only at the next refresh; the refresh that then presents the
// spent token reports refresh_interrupted.
func TestInterruptedMarkOutlivesIdleRefreshes(t *testing.T) {
	t.Parallel()
	for _, markDown := range []bool{false, true} {
		t.Run(fmt.Sprintf("mark refused at first: %v", markDown), func(t *testing.T) {
			t.Parallel()
			f := setup(t, fixtureOptions{provider: providertest.Options{Rotate: true, ReuseDetection: true}})
			c, _ := f.link("u1", time.Hour)
			store := &failingSaves{Store: f.store}
			r := f.refresherWith(Options{Store: store, LeaseTTL: 300 * time.Millisecond})
			store.failures.Store(1000)
			store.markDown.Store(markDown)
			if _, err := r.Refresh(t.Context(), c.ID, tokenkeeper.TriggerManual, ""); err == nil {
				t.Fatal("the refresh stored its tokens through a database that was down")
			}
			if got := f.get(c.ID); got.RefreshInterrupted == markDown {
				t.Fatalf("stored RefreshInterrupted = %v with the mark refused = %v", got.RefreshInterrupted, markDown)
			}
			store.failures.Store(0)
			store.markDown.Store(false)
			time.Sleep(time.Until(f.get(c.ID).LeaseUntil.Add(10 * time.Millisecond)))
			if _, err := r.Refresh(t.Context(), c.ID, tokenkeeper.TriggerRejected, "not the stored token"); err != nil {
				t.Fatalf("refresh for a token that is not the stored one: %v", err)
			}
			if got := f.get(c.ID); !got.RefreshInterrupted || got.LeaseOwner != "" {
				t.Fatalf("after a refresh that did nothing: RefreshInterrupted %v, lease %q; want true, none", got.RefreshInterrupted, got.LeaseOwner)
			}
			if _, err := f.keeper.Refresh(t.Context(), c.ID, tokenkeeper.TriggerManual, ""); tokenkeeper.ErrorCode(err) != tokenkeeper.CodeNeedsReauth {
				t.Fatalf("refresh with the spent token: %v", err)
			}
			if got := f.get(c.ID); got.LastError == nil || got.LastError.Code != tokenkeeper.CodeRefreshInterrupted {
				t.Fatalf("last error %+v, want %s", got.LastError, tokenkeeper.CodeRefreshInterrupted)
			}
		})
	}
}

// TestNoSendPastTheLease: a refresh waiting in the provider's gate (here
// for its one concurrent slot) longer than its lease lasts is deferred
// without sending its refresh token: past the lease another replica may
// take the connection over and send the same token.
func TestNoSendPastTheLease(t *testing.T) {
	t.Parallel()
	f := setup(t, fixtureOptions{})
	f.catalog["acme"].MaxConcurrent = 1
	// Two processes' refreshers sharing the gate: one with a long lease
	// holds the slot, one with a short lease waits for it.
	gate := NewProviderGate(GateOptions{Catalog: f.catalog})
	holder := f.refresherWith(Options{LeaseTTL: time.Minute, Gate: gate})
	r := f.refresherWith(Options{LeaseTTL: 400 * time.Millisecond, Gate: gate})
	slow, _ := f.link("slow", time.Hour)
	waiting, _ := f.link("waiting", time.Hour)
	started, release := make(chan struct{}, 1), make(chan struct{})
	f.provider.Script(providertest.Response{Started: started, Release: release})
	done := make(chan error, 1)
	go func() {
		_, err := holder.Refresh(context.Background(), slow.ID, tokenkeeper.TriggerManual, "")
		done <- err
	}()
	<-started
	before := f.provider.Refreshes()
	_, err := r.Refresh(t.Context(), waiting.ID, tokenkeeper.TriggerManual, "")
	if !errors.Is(err, errDeferred) {
		t.Fatalf("refresh waiting past its lease: %v, want a deferral", err)
	}
	if got := f.provider.Refreshes(); got != before {
		t.Fatalf("the provider saw %d more refresh requests, want none", got-before)
	}
	if got := f.get(waiting.ID); got.RefreshInterrupted || got.LeaseOwner != "" || got.ConsecutiveTransientFailures != 0 {
		t.Fatalf("deferred connection: interrupted %v, lease %q, transient failures %d; want false, none, 0",
			got.RefreshInterrupted, got.LeaseOwner, got.ConsecutiveTransientFailures)
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatalf("the slow refresh: %v", err)
	}
}
