package bench

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/tokenkeeper/tokenkeeper"
	"github.com/tokenkeeper/tokenkeeper/internal/clock"
	"github.com/tokenkeeper/tokenkeeper/internal/refresh"
)

// claimRecorder records, for every connection the scheduler claims, how
// late the claim is and whether the token had already expired. On a fake
// clock that does not move during a refresh, the claim time is the
// refresh time.
type claimRecorder struct {
	tokenkeeper.Store
	from, to time.Time

	mu      sync.Mutex
	claims  int
	lag     []time.Duration
	expired int
}

func (s *claimRecorder) ClaimDue(ctx context.Context, owner string, now, until time.Time, limit int, providers []string) ([]*tokenkeeper.Connection, error) {
	cs, err := s.Store.ClaimDue(ctx, owner, now, until, limit, providers)
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range cs {
		s.claims++
		if !now.Before(s.from) && now.Before(s.to) {
			s.lag = append(s.lag, now.Sub(c.NextRefreshAt))
		}
		if !c.ExpiresAt.Before(s.from) && c.ExpiresAt.Before(s.to) && now.After(c.ExpiresAt) {
			s.expired++
		}
	}
	return cs, err
}

// checkSimulation runs CheckFleet connections of the same mix through the
// real scheduler, refresher, token client and SQLite store on a fake clock
// (each refresh takes no simulated time), and the event simulation on the
// same population with no refresh cost, and reports both.
func (h *harness) checkSimulation(ctx context.Context) error {
	fc := clock.NewFake(simStart)
	prov, err := StartProvider(ProviderOptions{Now: fc.Now})
	if err != nil {
		return err
	}
	defer prov.Close()
	cat, err := mixProviders(prov)
	if err != nil {
		return err
	}
	db, err := h.openDB(ctx, dbSQLite, "freshness-check")
	if err != nil {
		return err
	}
	defer db.Close()
	p := simParams{members: population(h.s.CheckFleet, simStart, 3), providers: cat, start: simStart, warmup: h.s.Warmup, span: h.s.CheckSpan, workers: h.s.SimWorkers, seed: 4}
	from, to := p.window()
	rec := &claimRecorder{Store: db.store, from: from, to: to}
	e, err := newEngine(rec, cat, fc)
	if err != nil {
		return err
	}
	specs := make([]seedSpec, len(p.members))
	for i, m := range p.members {
		cl := populationMix[m.class]
		g, rt := prov.Grant(cl.lifetime)
		specs[i] = seedSpec{provider: cl.provider, lifetime: cl.lifetime, expiresAt: m.linkedAt.Add(cl.lifetime), linkedAt: m.linkedAt, refresh: rt, grant: g}
	}
	if _, err := e.seed(ctx, specs); err != nil {
		return err
	}
	idle := make(chan time.Time)
	sched := refresh.NewScheduler(refresh.SchedulerOptions{
		Refresher: e.keeper, Store: rec, Catalog: cat, Gate: e.gate, Clock: fc, Logger: discardLogger(),
		Workers: h.s.SimWorkers, PollInterval: time.Minute, Idle: idle,
	})
	e.keeper.OnSchedule(sched.Wake)
	if err := sched.Start(ctx); err != nil {
		return err
	}
	runErr := runFakeClock(ctx, fc, idle, to)
	sched.Stop()
	if runErr != nil {
		return runErr
	}
	stale, err := listAll(ctx, db.store, tokenkeeper.ConnectionFilter{ExpiringBefore: to})
	if err != nil {
		return err
	}
	unrefreshed := 0
	for _, c := range stale {
		if !c.ExpiresAt.Before(from) {
			unrefreshed++
		}
	}
	slices.Sort(rec.lag)
	model := simulateScheduler(p)
	st := prov.Stats()
	h.rep.add(Row{
		Part:  PartFreshness,
		Name:  fmt.Sprintf("simulation check: %d connections of the same mix, %s after %s warm-up, real scheduler + refresher + SQLite on a fake clock vs the event simulation (refresh cost 0): refreshes, expired, lag p50 / p99 / max", h.s.CheckFleet, h.s.CheckSpan, h.s.Warmup),
		Ours:  fmt.Sprintf("%d, %d expired, %s", st.Refreshes, rec.expired+unrefreshed, lagText(rec.lag)),
		Base:  fmt.Sprintf("%d, %d expired, %s", model.refreshes, model.expired, lagText(model.lag)),
		Ratio: float64(st.Refreshes) / float64(max(model.refreshes, 1)),
	})
	if st.Reuses > 0 || st.Rejected > 0 {
		h.rep.detail("simulation check: the provider saw %d reused refresh tokens and rejected %d requests", st.Reuses, st.Rejected)
	}
	return nil
}

// runFakeClock moves the fake clock to end, step by step: every time the
// scheduler goes idle, to its planned wake-up (or by a millisecond when it
// plans to wake at once).
func runFakeClock(ctx context.Context, fc *clock.Fake, idle <-chan time.Time, end time.Time) error {
	for {
		var planned time.Time
		select {
		case planned = <-idle:
		case <-time.After(2 * time.Minute):
			return fmt.Errorf("the scheduler did not go idle (simulated time %s)", fc.Now())
		case <-ctx.Done():
			return ctx.Err()
		}
		now := fc.Now()
		switch {
		case !now.Before(end):
			return nil
		case planned.After(end):
			fc.Set(end)
			return nil
		case planned.After(now):
			fc.Set(planned)
		default:
			fc.Advance(time.Millisecond)
		}
	}
}

// listAll returns every connection matching f, page by page.
func listAll(ctx context.Context, s tokenkeeper.Store, f tokenkeeper.ConnectionFilter) ([]*tokenkeeper.Connection, error) {
	var out []*tokenkeeper.Connection
	f.Limit = 1000
	for {
		page, next, err := s.ListConnections(ctx, f)
		if err != nil {
			return nil, err
		}
		out = append(out, page...)
		if next == "" {
			return out, nil
		}
		f.After = next
	}
}
