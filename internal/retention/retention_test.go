package retention

import (
	"context"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tokenkeeper/tokenkeeper"
	"github.com/tokenkeeper/tokenkeeper/internal/clock"
	"github.com/tokenkeeper/tokenkeeper/internal/sqlite"
	"github.com/tokenkeeper/tokenkeeper/internal/storetest"
	"github.com/tokenkeeper/tokenkeeper/internal/testkit"
)

// start is the fake clock's start: a whole UTC hour.
var start = time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)

// fixture is a migrated SQLite store with one connection, and a fake clock.
type fixture struct {
	t     *testing.T
	store *sqlite.Store
	clock *clock.Fake
	conn  *tokenkeeper.Connection
}

func setup(t *testing.T) *fixture {
	t.Helper()
	st, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "tokenkeeper.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if err := st.Migrate(t.Context()); err != nil {
		t.Fatal(err)
	}
	c := storetest.NewConnection(start)
	if err := st.CreateConnection(t.Context(), c, nil); err != nil {
		t.Fatal(err)
	}
	return &fixture{t: t, store: st, clock: clock.NewFake(start), conn: c}
}

// service returns a service of owner with a 24-hour retention, an hourly
// interval, and its purges collected.
func (f *fixture) service(owner string, logger *slog.Logger) (*Service, *purges) {
	f.t.Helper()
	p := &purges{}
	s, err := New(Options{Store: f.store, Retention: 24 * time.Hour, Interval: time.Hour, Clock: f.clock,
		Owner: owner, Logger: logger, OnPurge: p.add})
	if err != nil {
		f.t.Fatal(err)
	}
	return s, p
}

// attempt records a refresh attempt of the fixture's connection at `at`.
func (f *fixture) attempt(at time.Time) {
	f.t.Helper()
	a := tokenkeeper.RefreshAttempt{ConnectionID: f.conn.ID, At: at, Trigger: tokenkeeper.TriggerScheduler, Class: tokenkeeper.ClassSuccess}
	if err := f.store.AddAttempts(f.t.Context(), []tokenkeeper.RefreshAttempt{a}); err != nil {
		f.t.Fatal(err)
	}
}

// attempts returns the number of the connection's stored attempts.
func (f *fixture) attempts() int {
	f.t.Helper()
	as, err := f.store.ListAttempts(f.t.Context(), f.conn.ID, 1000)
	if err != nil {
		f.t.Fatal(err)
	}
	return len(as)
}

// waitAsleep returns once n services wait on the clock: their passes are done.
func (f *fixture) waitAsleep(n int) {
	f.t.Helper()
	ctx, cancel := context.WithTimeout(f.t.Context(), 30*time.Second)
	defer cancel()
	if err := f.clock.WaitForWaiters(ctx, n); err != nil {
		f.t.Fatalf("the services did not go to sleep: %v", err)
	}
}

// purges collects the OnPurge calls of a service.
type purges struct {
	mu   sync.Mutex
	runs []tokenkeeper.PurgeCounts
}

func (p *purges) add(c tokenkeeper.PurgeCounts) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.runs = append(p.runs, c)
}

func (p *purges) get() []tokenkeeper.PurgeCounts {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]tokenkeeper.PurgeCounts(nil), p.runs...)
}

// TestPurgesEveryInterval: the service purges at start, then once an
// interval has passed on its clock: an attempt that was younger than the
// retention at the first pass goes at the second. It logs the counts.
func TestPurgesEveryInterval(t *testing.T) {
	t.Parallel()
	f := setup(t)
	f.attempt(start.Add(-25 * time.Hour))                // its hour ended 24 h ago: purged at once
	f.attempt(start.Add(-23*time.Hour - 30*time.Minute)) // its hour ends 23 h ago: purged an hour later
	f.attempt(start.Add(-time.Hour))
	logs := &testkit.SyncBuffer{}
	s, p := f.service("a", slog.New(slog.NewTextHandler(logs, nil)))
	if err := s.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Stop)

	f.waitAsleep(1)
	if got, want := p.get(), []tokenkeeper.PurgeCounts{{Attempts: 1}}; !equalRuns(got, want) {
		t.Fatalf("purges at start = %+v, want %+v", got, want)
	}
	if n := f.attempts(); n != 2 {
		t.Fatalf("attempts after the first purge = %d, want 2", n)
	}
	f.clock.Advance(time.Hour - time.Millisecond)
	if f.clock.Waiters() != 1 || len(p.get()) != 1 {
		t.Fatalf("the service woke before its interval: %d waiters, %d purges", f.clock.Waiters(), len(p.get()))
	}
	f.clock.Advance(time.Millisecond)
	f.waitAsleep(1)
	if got, want := p.get(), []tokenkeeper.PurgeCounts{{Attempts: 1}, {Attempts: 1}}; !equalRuns(got, want) {
		t.Fatalf("purges after an interval = %+v, want %+v", got, want)
	}
	if n := f.attempts(); n != 1 {
		t.Fatalf("attempts after the second purge = %d, want 1", n)
	}
	if out := logs.String(); !strings.Contains(out, `msg="history purged"`) || !strings.Contains(out, "refresh_attempts=1") {
		t.Errorf("log lacks the purge counts:\n%s", out)
	}
}

// TestOnlyLeaseHolderPurges: of two replicas, the one that holds the lease
// purges and the other skips its passes, until the holder stops: then the
// other takes over at its next pass.
func TestOnlyLeaseHolderPurges(t *testing.T) {
	t.Parallel()
	f := setup(t)
	f.attempt(start.Add(-48 * time.Hour))
	a, pa := f.service("replica-a", nil)
	b, pb := f.service("replica-b", nil)
	if err := a.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(a.Stop)
	f.waitAsleep(1)
	if err := b.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Stop)
	f.waitAsleep(2)
	if len(pa.get()) != 1 || len(pb.get()) != 0 || f.attempts() != 0 {
		t.Fatalf("first passes: a purged %d times, b %d times, %d attempts left; want 1, 0, 0", len(pa.get()), len(pb.get()), f.attempts())
	}

	// b's direct pass is refused too while a holds the lease.
	f.attempt(start.Add(-47 * time.Hour))
	if c, ran, err := b.RunOnce(t.Context()); ran || err != nil || c.Total() != 0 || f.attempts() != 1 {
		t.Fatalf("b.RunOnce while a holds the lease = %+v, %t, %v (%d attempts left)", c, ran, err, f.attempts())
	}

	a.Stop() // frees the lease
	f.clock.Advance(time.Hour)
	f.waitAsleep(1) // b's next pass is done (a's waiter fired and was not renewed)
	if got, want := pb.get(), []tokenkeeper.PurgeCounts{{Attempts: 1}}; !equalRuns(got, want) {
		t.Fatalf("b's purges after a stopped = %+v, want %+v", got, want)
	}
	if len(pa.get()) != 1 || f.attempts() != 0 {
		t.Fatalf("a purged %d times, %d attempts left; want 1, 0", len(pa.get()), f.attempts())
	}
}

// TestLeaseExpires: a holder that stops without freeing the lease (a killed
// process) is replaced once its lease, one interval long, has expired.
func TestLeaseExpires(t *testing.T) {
	t.Parallel()
	f := setup(t)
	a, _ := f.service("replica-a", nil)
	b, _ := f.service("replica-b", nil)
	if _, ran, err := a.RunOnce(t.Context()); !ran || err != nil {
		t.Fatalf("a.RunOnce = %t, %v; want true, nil", ran, err)
	}
	f.attempt(start.Add(-48 * time.Hour))
	f.clock.Advance(time.Hour)
	if _, ran, err := b.RunOnce(t.Context()); ran || err != nil {
		t.Fatalf("b.RunOnce at the lease's end = %t, %v; want false, nil", ran, err)
	}
	f.clock.Advance(time.Millisecond)
	if c, ran, err := b.RunOnce(t.Context()); !ran || err != nil || c.Attempts != 1 {
		t.Fatalf("b.RunOnce after the lease expired = %+v, %t, %v; want 1 attempt, true, nil", c, ran, err)
	}
}

func TestNewRefusesBadOptions(t *testing.T) {
	t.Parallel()
	f := setup(t)
	for name, o := range map[string]Options{
		"no store":            {Retention: DefaultRetention},
		"no retention":        {Store: f.store},
		"retention too short": {Store: f.store, Retention: MinRetention - time.Second},
		"negative interval":   {Store: f.store, Retention: DefaultRetention, Interval: -time.Second},
	} {
		if _, err := New(o); err == nil {
			t.Errorf("%s: New accepted %+v", name, o)
		}
	}
	if _, err := New(Options{Store: f.store, Retention: MinRetention}); err != nil {
		t.Errorf("New with the minimum retention: %v", err)
	}
}

func equalRuns(a, b []tokenkeeper.PurgeCounts) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
