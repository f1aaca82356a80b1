package refresh

import (
	"context"
	"math/rand/v2"
	"net/http"
	"sort"
	"testing"
	"time"

	"github.com/tokenkeeper/tokenkeeper"
	"github.com/tokenkeeper/tokenkeeper/internal/clock"
	"github.com/tokenkeeper/tokenkeeper/internal/providertest"
)

var simStart = time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)

// simulation runs a scheduler on a fake clock: every time the scheduler goes
// to sleep with nothing in flight, the clock jumps to its planned wake-up.
type simulation struct {
	t     *testing.T
	f     *fixture
	clock *clock.Fake
	idle  chan time.Time
	sched *Scheduler
	// pending is the scheduler's planned wake-up that runUntil has not reached.
	pending time.Time
	steps   int
}

func newSimulation(t *testing.T, o fixtureOptions, so SchedulerOptions) *simulation {
	t.Helper()
	fc := clock.NewFake(simStart)
	o.clock = fc
	f := setup(t, o)
	s := &simulation{t: t, f: f, clock: fc, idle: make(chan time.Time)}
	s.sched = s.newScheduler(f.keeper, so)
	return s
}

func (s *simulation) newScheduler(r *Refresher, so SchedulerOptions) *Scheduler {
	so.Refresher, so.Store, so.Catalog, so.Clock, so.Idle = r, s.f.store, s.f.catalog, s.clock, s.idle
	so.Gate, _ = r.gate.(*ProviderGate)
	sched := NewScheduler(so)
	r.OnSchedule(sched.Wake)
	return sched
}

func (s *simulation) start(sched *Scheduler) {
	s.t.Helper()
	s.pending = time.Time{}
	if err := sched.Start(context.Background()); err != nil {
		s.t.Fatal(err)
	}
	s.t.Cleanup(sched.Stop)
}

// runUntil moves simulated time to end, step by step as the scheduler
// sleeps. When the scheduler plans to wake after end, the clock stops at end
// and the planned wake-up is kept for the next call.
func (s *simulation) runUntil(end time.Time) {
	s.t.Helper()
	for {
		planned := s.pending
		s.pending = time.Time{}
		if planned.IsZero() {
			select {
			case planned = <-s.idle:
			case <-time.After(60 * time.Second):
				s.t.Fatalf("the scheduler did not go idle (simulated time %s)", s.clock.Now())
			}
		}
		now := s.clock.Now()
		s.steps++
		if planned.After(end) || !now.Before(end) {
			if now.Before(end) {
				s.clock.Set(end)
			}
			s.pending = planned
			return
		}
		if planned.After(now) {
			s.clock.Set(planned)
		} else {
			s.clock.Advance(time.Millisecond)
		}
	}
}

// TestSchedulerRefreshesEveryConnectionBeforeExpiry: connections whose
// tokens expire at random times over the next 10 minutes are each refreshed
// once, before they expire.
func TestSchedulerRefreshesEveryConnectionBeforeExpiry(t *testing.T) {
	t.Parallel()
	n := 10000
	if raceEnabled || testing.Short() {
		n = 500 // the race detector slows SQLite tenfold; the full run is in docs/BENCHMARKS.md
	}
	sim := newSimulation(t, fixtureOptions{provider: providertest.Options{Rotate: true, ReuseDetection: true}}, SchedulerOptions{Workers: 8, PollInterval: time.Minute})
	ctx := context.Background()
	rnd := rand.New(rand.NewPCG(1, 2))
	type planned struct{ next, expires time.Time }
	plan := map[string]planned{}
	for i := range n {
		g := sim.f.provider.Grant("read")
		c, _, err := sim.f.keeper.Link(ctx, tokenkeeper.LinkRequest{
			UserID: "user-" + itoa(i), Provider: "acme",
			AccessToken: g.AccessToken, RefreshToken: g.RefreshToken,
			ExpiresIn: 30*time.Second + time.Duration(rnd.Int64N(int64(570*time.Second))),
		})
		if err != nil {
			t.Fatal(err)
		}
		plan[c.ID] = planned{c.NextRefreshAt, c.ExpiresAt}
	}
	sim.start(sim.sched)
	sim.runUntil(simStart.Add(11 * time.Minute))
	sim.sched.Stop()

	if got := sim.f.provider.Refreshes(); got != n {
		t.Fatalf("provider saw %d refreshes for %d connections", got, n)
	}
	var lags []time.Duration
	for id, p := range plan {
		attempts, err := sim.f.store.ListAttempts(ctx, id, 10)
		if err != nil {
			t.Fatal(err)
		}
		if len(attempts) != 1 || attempts[0].Class != tokenkeeper.ClassSuccess {
			t.Fatalf("%s: %d attempts %+v", id, len(attempts), attempts)
		}
		at := attempts[0].At
		if !at.Before(p.expires) {
			t.Fatalf("%s refreshed at %s, after its token expired at %s", id, at, p.expires)
		}
		lags = append(lags, at.Sub(p.next))
	}
	sort.Slice(lags, func(i, j int) bool { return lags[i] < lags[j] })
	t.Logf("%d connections: simulated lag p50 %s, p99 %s, max %s", n, lags[len(lags)/2], lags[len(lags)*99/100], lags[len(lags)-1])
}

// TestSchedulerDuringOutage: a provider answers 503 to everything for six
// simulated hours. The breaker opens, requests stay few, no connection leaves
// connected and nobody is notified; after recovery all are refreshed within
// minutes.
func TestSchedulerDuringOutage(t *testing.T) {
	t.Parallel()
	n := 200
	if raceEnabled || testing.Short() {
		n = 60
	}
	sim := newSimulation(t, fixtureOptions{gate: true, provider: providertest.Options{Rotate: true, ReuseDetection: true}}, SchedulerOptions{Workers: 8, PollInterval: time.Minute})
	ctx := context.Background()
	for i := range n {
		g := sim.f.provider.Grant("read")
		if _, _, err := sim.f.keeper.Link(ctx, tokenkeeper.LinkRequest{
			UserID: "u" + itoa(i), Provider: "acme", AccessToken: g.AccessToken, RefreshToken: g.RefreshToken,
			ExpiresIn: time.Duration(i+1) * time.Hour / time.Duration(n), // expiring over the first hour
		}); err != nil {
			t.Fatal(err)
		}
	}
	sim.f.provider.FailAll(providertest.Response{Status: http.StatusServiceUnavailable, Body: "maintenance"})
	sim.start(sim.sched)
	outageEnd := simStart.Add(6 * time.Hour)
	sim.runUntil(outageEnd)

	sent := sim.f.provider.Requests()
	t.Logf("requests sent during a 6-hour outage for %d connections: %d (%d steps)", n, sent, sim.steps)
	if sent > 150 {
		t.Fatalf("%d requests during the outage: the breaker did not hold", sent)
	}
	if st := sim.sched.o.Gate.BreakerStates(sim.clock.Now())["acme"]; st == "closed" {
		t.Fatalf("breaker %s during the outage", st)
	}
	list, _, err := sim.f.store.ListConnections(ctx, tokenkeeper.ConnectionFilter{Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range list {
		if c.Status != tokenkeeper.StatusConnected {
			t.Fatalf("%s is %s after an outage", c.ID, c.Status)
		}
	}
	for _, e := range sim.f.events() {
		if e != tokenkeeper.EventConnected {
			t.Fatalf("event %s during an outage", e)
		}
	}

	sim.f.provider.Heal()
	sim.runUntil(outageEnd.Add(15 * time.Minute))
	list, _, err = sim.f.store.ListConnections(ctx, tokenkeeper.ConnectionFilter{Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	var last time.Time
	for _, c := range list {
		if c.LastRefreshedAt.Before(outageEnd) || c.ConsecutiveTransientFailures != 0 {
			t.Fatalf("%s not refreshed after recovery (last %s, transient %d)", c.ID, c.LastRefreshedAt, c.ConsecutiveTransientFailures)
		}
		if c.LastRefreshedAt.After(last) {
			last = c.LastRefreshedAt
		}
	}
	t.Logf("all %d connections refreshed %s after the provider recovered", n, last.Sub(outageEnd))
}

// TestSchedulerResumesBackoffAfterRestart: a retry time chosen before a
// restart is kept: the new process neither retries early nor forgets.
func TestSchedulerResumesBackoffAfterRestart(t *testing.T) {
	t.Parallel()
	sim := newSimulation(t, fixtureOptions{provider: providertest.Options{}}, SchedulerOptions{PollInterval: time.Minute})
	c, _ := sim.f.link("u1", 5*time.Minute)
	sim.f.provider.FailAll(providertest.Response{Status: 503, Header: http.Header{"Retry-After": {"1200"}}, Body: "busy"})
	sim.start(sim.sched)
	sim.runUntil(simStart.Add(5 * time.Minute))
	sim.sched.Stop()
	failed := sim.f.get(c.ID)
	if failed.ConsecutiveTransientFailures != 1 || failed.NextRefreshAt.Before(failed.LastError.At.Add(20*time.Minute)) {
		t.Fatalf("after the failure: transient %d, next %s", failed.ConsecutiveTransientFailures, failed.NextRefreshAt)
	}
	sim.f.provider.Heal()
	before := sim.f.provider.Refreshes()

	// Restart: a new refresher (another lease owner) and scheduler on the same database.
	restarted := sim.f.newRefresher(fixtureOptions{})
	sched := sim.newScheduler(restarted, SchedulerOptions{PollInterval: time.Minute})
	sim.start(sched)
	sim.runUntil(failed.NextRefreshAt.Add(-time.Second))
	if got := sim.f.provider.Refreshes(); got != before {
		t.Fatalf("retried %d times before the stored retry time", got-before)
	}
	sim.runUntil(failed.NextRefreshAt.Add(time.Second))
	if got := sim.f.provider.Refreshes(); got != before+1 {
		t.Fatalf("%d refreshes at the stored retry time, want 1", got-before)
	}
	if n := sim.f.get(c.ID); n.ConsecutiveTransientFailures != 0 || !n.LastRefreshedAt.Equal(failed.NextRefreshAt) {
		t.Fatalf("after the retry: transient %d, refreshed at %s (retry time %s)", n.ConsecutiveTransientFailures, n.LastRefreshedAt, failed.NextRefreshAt)
	}
}

func itoa(i int) string {
	const digits = "0123456789"
	if i == 0 {
		return "0"
	}
	var b []byte
	for ; i > 0; i /= 10 {
		b = append([]byte{digits[i%10]}, b...)
	}
	return string(b)
}
