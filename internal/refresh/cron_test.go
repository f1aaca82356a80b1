package refresh

import (
	"context"
	"testing"
	"time"

	"github.com/tokenkeeper/tokenkeeper"
	"github.com/tokenkeeper/tokenkeeper/internal/providertest"
)

// TestCronSweep: a provider with sweep_schedule "*/30 * * * *" gets a sweep
// at each tick that refreshes what would expire before the next one, run by
// one of two schedulers sharing the database.
func TestCronSweep(t *testing.T) {
	t.Parallel()
	sim := newSimulation(t, fixtureOptions{provider: providertest.Options{}}, SchedulerOptions{PollInterval: time.Hour})
	sim.f.catalog["acme"].SweepSchedule = "*/30 * * * *"
	ctx := context.Background()
	soon, _ := sim.f.link("u-soon", 65*time.Minute) // expires 10:05: inside the 09:30 sweep's window (10:00 + 10m)
	later, _ := sim.f.link("u-later", 2*time.Hour)  // expires 11:00: not yet
	// Two replicas, each with its own Idle channel; the clock moves only when
	// both sleep.
	idle := []chan time.Time{make(chan time.Time), make(chan time.Time)}
	var scheds []*Scheduler
	for i, r := range []*Refresher{sim.f.keeper, sim.f.newRefresher(fixtureOptions{})} {
		sched := sim.newScheduler(r, SchedulerOptions{PollInterval: time.Hour})
		sched.o.Idle = idle[i]
		sim.start(sched)
		scheds = append(scheds, sched)
	}
	end := simStart.Add(31 * time.Minute)
	pending := make([]time.Time, len(idle))
	for {
		for i := range idle {
			if pending[i].IsZero() {
				select {
				case pending[i] = <-idle[i]:
				case <-time.After(30 * time.Second):
					t.Fatal("a scheduler did not go idle")
				}
			}
		}
		next := pending[0]
		for _, p := range pending[1:] {
			if p.Before(next) {
				next = p
			}
		}
		if next.After(end) {
			sim.clock.Set(end)
			break
		}
		sim.clock.Set(next)
		for i, p := range pending {
			if !p.After(next) {
				pending[i] = time.Time{}
			}
		}
	}
	for _, sched := range scheds {
		sched.Stop()
	}

	attempts, err := sim.f.store.ListAttempts(ctx, soon.ID, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(attempts) != 1 || attempts[0].Trigger != tokenkeeper.TriggerSweep || !attempts[0].At.Equal(simStart.Add(30*time.Minute)) {
		t.Fatalf("attempts of the connection expiring soon: %+v", attempts)
	}
	if attempts, _ := sim.f.store.ListAttempts(ctx, later.ID, 10); len(attempts) != 0 {
		t.Fatalf("the connection expiring later was swept: %+v", attempts)
	}
}

func TestSchedulerRejectsBadCron(t *testing.T) {
	t.Parallel()
	sim := newSimulation(t, fixtureOptions{}, SchedulerOptions{})
	sim.f.catalog["acme"].SweepSchedule = "every day"
	sched := sim.newScheduler(sim.f.keeper, SchedulerOptions{})
	if err := sched.Start(context.Background()); err == nil {
		sched.Stop()
		t.Fatal("a malformed sweep_schedule was accepted")
	}
}
