package bench

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/tokenkeeper/tokenkeeper"
	"github.com/tokenkeeper/tokenkeeper/internal/clock"
	"github.com/tokenkeeper/tokenkeeper/internal/refresh"
)

// lag is issue 3's check on the real clock: LagConnections whose tokens
// expire at random times over the next LagWindow, linked through the
// refresher while the scheduler runs (as serve does), must each be
// refreshed once, before expiry; it reports the lag between
// next_refresh_at and the refresh.
func (h *harness) lag(ctx context.Context) error {
	prov, err := StartProvider(ProviderOptions{})
	if err != nil {
		return err
	}
	defer prov.Close()
	db, err := h.openDB(ctx, dbSQLite, "lag")
	if err != nil {
		return err
	}
	defer db.Close()
	e, err := newEngine(db.store, catalogMap{"bench": prov.Provider("bench")}, clock.Real{})
	if err != nil {
		return err
	}
	sched := refresh.NewScheduler(refresh.SchedulerOptions{Refresher: e.keeper, Store: db.store, Catalog: e.catalog, Gate: e.gate, Logger: discardLogger()})
	e.keeper.OnSchedule(sched.Wake)
	if err := sched.Start(ctx); err != nil {
		return err
	}
	defer sched.Stop()
	type linked struct {
		c     *tokenkeeper.Connection
		grant int
	}
	rnd := rand.New(rand.NewPCG(5, 6))
	conns := make([]linked, h.s.LagConnections)
	start := time.Now()
	spread := h.s.LagWindow - h.s.LagMinExpiry
	for i := range conns {
		g, rt := prov.Grant(time.Hour)
		c, _, err := e.keeper.Link(ctx, tokenkeeper.LinkRequest{
			UserID: fmt.Sprintf("lag-%06d", i), Provider: "bench",
			AccessToken: tokenkeeper.Secret(newToken("at_")), RefreshToken: rt,
			ExpiresIn: h.s.LagMinExpiry + time.Duration(rnd.Int64N(int64(spread))),
		})
		if err != nil {
			return fmt.Errorf("link %d: %w", i, err)
		}
		conns[i] = linked{c: c, grant: g}
	}
	linking := time.Since(start)
	last := start
	for _, l := range conns {
		last = later(last, l.c.ExpiresAt)
	}
	deadline := last.Add(30 * time.Second)
	for prov.Stats().Refreshes < int64(len(conns)) && time.Now().Before(deadline) {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond): // the scheduler runs on the real clock
		}
	}
	sched.Stop()
	var lags []time.Duration
	before, twice, missing := 0, 0, 0
	for _, l := range conns {
		n, at := prov.GrantRefreshes(l.grant)
		switch {
		case n == 0:
			missing++
			continue
		case n > 1:
			twice++
		}
		if at.Before(l.c.ExpiresAt) {
			before++
		}
		lags = append(lags, at.Sub(l.c.NextRefreshAt))
	}
	slices.Sort(lags)
	st := prov.Stats()
	ok := before == len(conns) && twice == 0 && st.Reuses == 0
	h.rep.add(Row{
		Part: PartLag, Name: fmt.Sprintf("%d connections expiring at random over the next %s (real clock, SQLite, serve's defaults: 8 workers): refreshed before expiry / refreshed twice / not refreshed", len(conns), h.s.LagWindow),
		Ours: fmt.Sprintf("%d / %d / %d", before, twice, missing), Target: "all / 0 / 0", Met: verdict(ok),
	})
	h.rep.add(Row{
		Part: PartLag, Name: "lag between next_refresh_at and the provider's answer, p50 / p99 / max",
		Ours: lagText(lags),
	})
	h.rep.detail("lag: linking %d connections through the refresher took %s while the scheduler ran; the provider saw %d refreshes, %d reuses", len(conns), linking.Round(time.Millisecond), st.Refreshes, st.Reuses)
	return nil
}
