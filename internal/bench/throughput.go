package bench

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tokenkeeper/tokenkeeper"
	"github.com/tokenkeeper/tokenkeeper/internal/clock"
	"github.com/tokenkeeper/tokenkeeper/internal/refresh"
)

func randFloat() float64 { return rand.Float64() }

// throughput measures, for each case and database, refreshes/s through the
// scheduler against raw round trips/s at the same concurrency.
func (h *harness) throughput(ctx context.Context) error {
	for _, kind := range h.databases() {
		for i, tc := range h.s.Throughput {
			if err := h.throughputCase(ctx, kind, tc, i == 0); err != nil {
				return fmt.Errorf("%s, %s: %w", kind, caseName(tc), err)
			}
		}
	}
	return nil
}

func caseName(tc ThroughputCase) string {
	s := fmt.Sprintf("provider latency %s, concurrency %d", fmtDur(tc.Latency), tc.Concurrency)
	if tc.ErrorRate > 0 {
		s += fmt.Sprintf(", %.0f%% errors", tc.ErrorRate*100)
	}
	return s
}

// throughputCase seeds a population that the scheduler keeps cycling
// through (refreshed tokens live one second, so a connection is due again
// 0.8 s after its refresh), then alternates windows of raw round trips and
// of scheduler refreshes, Repeats times, so that both sides see the same
// machine; the ratio is the median of the windows' ratios.
func (h *harness) throughputCase(ctx context.Context, kind string, tc ThroughputCase, profile bool) error {
	prov, err := StartProvider(ProviderOptions{Latency: tc.Latency, ErrorRate: tc.ErrorRate, Lifetime: time.Second})
	if err != nil {
		return err
	}
	defer prov.Close()
	calib, err := rawRate(ctx, prov, tc.Concurrency, h.s.ThroughputTime/2)
	if err != nil {
		return fmt.Errorf("raw client: %w", err)
	}
	n := min(max(int(2*calib), 4*tc.Concurrency), h.s.MaxSeeds)
	db, err := h.openDB(ctx, kind, "throughput")
	if err != nil {
		return err
	}
	defer db.Close()
	cs := &countingStore{Store: db.store}
	e, err := newEngine(cs, catalogMap{"bench": prov.Provider("bench")}, clock.Real{})
	if err != nil {
		return err
	}
	if _, err := e.seedDue(ctx, prov, "bench", n); err != nil {
		return err
	}
	before := prov.Stats()
	var raws, scheds, ratios []float64
	for rep := range max(h.s.Repeats, 1) {
		raw, err := rawRate(ctx, prov, tc.Concurrency, h.s.ThroughputTime)
		if err != nil {
			return fmt.Errorf("raw client: %w", err)
		}
		name := ""
		if profile && rep == 0 {
			name = "refresh-" + kind
		}
		sched, err := h.schedulerWindow(ctx, e, cs, tc.Concurrency, name)
		if err != nil {
			return fmt.Errorf("scheduler: %w", err)
		}
		raws, scheds, ratios = append(raws, raw), append(scheds, sched), append(ratios, sched/raw)
	}
	after := prov.Stats()
	if after.Reuses != before.Reuses {
		h.rep.detail("throughput %s %s: the provider saw %d reused refresh tokens", kind, caseName(tc), after.Reuses-before.Reuses)
	}
	ratio := median(ratios)
	h.rep.add(Row{
		Part: PartThroughput, Name: fmt.Sprintf("refreshes/s, %s, %s (%d connections cycling)", kind, caseName(tc), n),
		Ours: fmtRate(median(scheds), "refreshes"), Base: fmtRate(median(raws), "round trips"),
		Ratio: ratio, Target: "≥ 0.5", Met: verdict(ratio >= 0.5),
	})
	return nil
}

func median(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	return s[len(s)/2]
}

// rawRate runs conc goroutines that each refresh their own grant with a
// plain http.Client, back to back, for d, and returns the round trips per
// second (failed answers count: they are round trips).
func rawRate(ctx context.Context, prov *Provider, conc int, d time.Duration) (float64, error) {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConnsPerHost = max(conc, 64)
	hc := &http.Client{Transport: t, Timeout: 15 * time.Second}
	defer t.CloseIdleConnections()
	var count atomic.Int64
	var firstErr error
	var once sync.Once
	var wg sync.WaitGroup
	start := time.Now()
	deadline := start.Add(d)
	for range conc {
		_, rt := prov.Grant(0)
		wg.Go(func() {
			token := rt.Reveal()
			for time.Now().Before(deadline) && ctx.Err() == nil {
				next, err := rawRefresh(ctx, hc, prov.TokenURL(), token)
				switch {
				case err == nil:
					token = next
				case prov.opts.ErrorRate > 0:
					// an injected 503: the token stays valid
				default:
					once.Do(func() { firstErr = err })
					return
				}
				count.Add(1)
			}
		})
	}
	wg.Wait()
	if firstErr != nil {
		return 0, firstErr
	}
	return float64(count.Load()) / time.Since(start).Seconds(), ctx.Err()
}

// countingStore counts the writes that end a refresh (a save under the
// refresh lease).
type countingStore struct {
	tokenkeeper.Store
	saves atomic.Int64
}

func (s *countingStore) SaveConnection(ctx context.Context, w tokenkeeper.Write) error {
	err := s.Store.SaveConnection(ctx, w)
	if err == nil && w.LeaseOwner != "" {
		s.saves.Add(1)
	}
	return err
}

// schedulerWindow runs a scheduler with conc workers on the engine, lets it
// warm up, and returns the refreshes per second it completed over
// ThroughputTime. With a profile name, the window is CPU-profiled.
func (h *harness) schedulerWindow(ctx context.Context, e *engine, cs *countingStore, conc int, profile string) (float64, error) {
	sched := refresh.NewScheduler(refresh.SchedulerOptions{
		Refresher: e.keeper, Store: cs, Catalog: e.catalog, Gate: e.gate, Logger: discardLogger(), Workers: conc,
	})
	e.keeper.OnSchedule(sched.Wake)
	if err := sched.Start(ctx); err != nil {
		return 0, err
	}
	defer sched.Stop()
	if !sleepCtx(ctx, h.s.ThroughputTime/4) {
		return 0, ctx.Err()
	}
	stop := func() {}
	if profile != "" {
		stop = h.profile(profile)
	}
	n0, t0 := cs.saves.Load(), time.Now()
	ok := sleepCtx(ctx, h.s.ThroughputTime)
	// A starved machine may not finish a refresh within the window: wait
	// for the first one, so that a rate can always be given.
	for deadline := time.Now().Add(time.Minute); ok && cs.saves.Load() == n0 && time.Now().Before(deadline); {
		ok = sleepCtx(ctx, 10*time.Millisecond)
	}
	n1, t1 := cs.saves.Load(), time.Now()
	stop()
	if !ok {
		return 0, ctx.Err()
	}
	if n1 == n0 {
		return 0, errors.New("no refresh completed in a minute")
	}
	return float64(n1-n0) / t1.Sub(t0).Seconds(), nil
}

// sleepCtx waits d, or until ctx ends (then it returns false).
func sleepCtx(ctx context.Context, d time.Duration) bool {
	select {
	case <-time.After(d):
		return true
	case <-ctx.Done():
		return false
	}
}
