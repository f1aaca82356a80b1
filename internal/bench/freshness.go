package bench

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// simStart is the simulated clock's start.
var simStart = time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)

// The seeds' cron job: every five minutes, the tokens expiring within ten.
const (
	cronInterval = 5 * time.Minute
	cronWindow   = 10 * time.Minute
)

// freshness runs the population through tokenkeeper's policy and through
// the cron job on one simulated clock, then checks the simulation against
// the real scheduler on a smaller population.
func (h *harness) freshness(ctx context.Context) error {
	provs, err := mixProviders(nil)
	if err != nil {
		return err
	}
	p := simParams{
		members: population(h.s.Fleet, simStart, 1), providers: provs, start: simStart,
		warmup: h.s.Warmup, span: h.s.Span, cost: h.s.RefreshCost, workers: h.s.SimWorkers, seed: 2,
	}
	ours := simulateScheduler(p)
	h.rep.detail("freshness: %d connections (%s), linked at uniform times over their lifetime before the start; %s of simulated time measured after a %s warm-up; every refresh takes %s on average (uniform from half to one and a half times); tokenkeeper runs %d refreshes at a time with the default policy (margin min(10 min, lifetime/5), catalog refresh_before and keepalive, 10%% jitter)",
		h.s.Fleet, mixText(), h.s.Span, h.s.Warmup, fmtDur(h.s.RefreshCost), h.s.SimWorkers)
	for _, b := range []struct {
		name string
		r    simResult
	}{
		{"cron, one by one", simulateCron(p, cronInterval, cronWindow, 1)},
		{fmt.Sprintf("cron, %d at a time", h.s.SimWorkers), simulateCron(p, cronInterval, cronWindow, h.s.SimWorkers)},
	} {
		h.rep.add(Row{
			Part: PartFreshness, Name: fmt.Sprintf("tokens that expired before their refresh, of the expiries in the window, vs %s", b.name),
			Ours: fmt.Sprintf("%d of %d", ours.expired, ours.expiries), Base: fmt.Sprintf("%d of %d", b.r.expired, b.r.expiries),
			Ratio: ratioInt(ours.expired, b.r.expired), Target: "0 expired", Met: verdict(ours.expired == 0),
		})
		h.rep.add(Row{
			Part: PartFreshness, Name: fmt.Sprintf("lag, refresh start − due time (tokenkeeper: next_refresh_at; cron: expiry − 10 min), p50 / p99 / max, vs %s", b.name),
			Ours: lagText(ours.lag), Base: lagText(b.r.lag),
			Ratio: ratioDur(percentile(ours.lag, 99), percentile(b.r.lag, 99)),
		})
		h.rep.add(Row{
			Part: PartFreshness, Name: fmt.Sprintf("time left before expiry when the new token arrives, min / p1 / p50 (negative: expired), vs %s", b.name),
			Ours: leftText(ours.left), Base: leftText(b.r.left),
		})
		h.rep.detail("freshness, %s: %d refreshes (tokenkeeper %d); expired by class: %s (tokenkeeper: %s); the expired tokens stayed expired p50 %s, p99 %s",
			b.name, b.r.refreshes, ours.refreshes, byClass(b.r.expiredBy), byClass(ours.expiredBy), fmtDur(percentile(b.r.late, 50)), fmtDur(percentile(b.r.late, 99)))
	}
	return h.checkSimulation(ctx)
}

func lagText(lag []time.Duration) string {
	if len(lag) == 0 {
		return "no refreshes"
	}
	return fmtDur(percentile(lag, 50)) + " / " + fmtDur(percentile(lag, 99)) + " / " + fmtDur(lag[len(lag)-1])
}

func leftText(left []time.Duration) string {
	if len(left) == 0 {
		return "no refreshes"
	}
	return fmtSigned(left[0]) + " / " + fmtSigned(percentile(left, 1)) + " / " + fmtSigned(percentile(left, 50))
}

func fmtSigned(d time.Duration) string {
	if d < 0 {
		return "−" + fmtDur(-d)
	}
	return fmtDur(d)
}

func mixText() string {
	var parts []string
	for _, c := range populationMix {
		parts = append(parts, fmt.Sprintf("%.0f%% %s", c.share*100, c.name))
	}
	return strings.Join(parts, ", ")
}

func byClass(n []int) string {
	var parts []string
	for i, c := range n {
		if c > 0 {
			parts = append(parts, fmt.Sprintf("%s: %d", populationMix[i].name, c))
		}
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ", ")
}

func ratioInt(a, b int) float64 {
	if b == 0 {
		return 0
	}
	return float64(a) / float64(b)
}
