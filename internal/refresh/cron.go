package refresh

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	cron "github.com/netresearch/go-cron"

	"github.com/tokenkeeper/tokenkeeper"
)

// cronSweeps runs the providers' scheduled sweeps (sweep_schedule), one
// replica at a time: each run holds the named lease "sweep:<provider>".
type cronSweeps struct {
	s *Scheduler

	mu        sync.Mutex
	schedules map[string]cron.Schedule
	nextRun   map[string]time.Time
	running   sync.WaitGroup
	active    atomic.Int32 // sweeps in progress
}

func newCronSweeps(s *Scheduler) *cronSweeps {
	return &cronSweeps{s: s, schedules: map[string]cron.Schedule{}, nextRun: map[string]time.Time{}}
}

// load parses every provider's sweep_schedule.
func (c *cronSweeps) load(now time.Time) error {
	if c.s.o.Catalog == nil {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, p := range c.s.o.Catalog.Providers() {
		if p.SweepSchedule == "" {
			continue
		}
		sched, err := cron.ParseStandard(p.SweepSchedule)
		if err != nil {
			return fmt.Errorf("provider %s: sweep_schedule %q: %w", p.Name, p.SweepSchedule, err)
		}
		c.schedules[p.Name] = sched
		c.nextRun[p.Name] = sched.Next(now)
	}
	return nil
}

// next returns the earliest planned sweep, zero when none.
func (c *cronSweeps) next() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	var t time.Time
	for _, n := range c.nextRun {
		if t.IsZero() || n.Before(t) {
			t = n
		}
	}
	return t
}

// runDue starts the sweeps whose time has come, in the background.
func (c *cronSweeps) runDue(ctx context.Context, now time.Time) {
	c.mu.Lock()
	var due []string
	for name, at := range c.nextRun {
		if !at.After(now) {
			due = append(due, name)
			c.nextRun[name] = c.schedules[name].Next(now)
		}
	}
	c.mu.Unlock()
	for _, name := range due {
		c.running.Add(1)
		c.active.Add(1)
		go func(name string) {
			defer c.running.Done()
			defer c.s.signalIfQuiet()
			defer c.active.Add(-1)
			c.run(ctx, name, now)
		}(name)
	}
}

// run sweeps one provider under its named lease: the connections whose
// tokens expire before the next scheduled sweep (plus the refresh margin).
func (c *cronSweeps) run(ctx context.Context, provider string, now time.Time) {
	r := c.s.o.Refresher
	lease := "sweep:" + provider
	ok, err := c.s.o.Store.AcquireNamedLease(ctx, lease, r.owner, now, now.Add(10*time.Minute))
	if err != nil || !ok {
		if err != nil {
			c.s.log.Error("acquire sweep lease", "provider", provider, "err", err)
		}
		return
	}
	defer func() {
		if err := c.s.o.Store.ReleaseNamedLease(context.WithoutCancel(ctx), lease, r.owner); err != nil {
			c.s.log.Warn("release sweep lease", "provider", provider, "err", err)
		}
	}()
	c.mu.Lock()
	within := c.nextRun[provider].Sub(now) + r.policy.MaxMargin
	c.mu.Unlock()
	res, err := r.Sweep(ctx, tokenkeeper.SweepRequest{Provider: provider, ExpiringWithin: within}, c.s.o.Workers)
	if err != nil {
		c.s.log.Error("scheduled sweep", "provider", provider, "err", err)
		return
	}
	c.s.log.Info("scheduled sweep", "provider", provider, "checked", res.Checked, "refreshed", res.Refreshed,
		"failed", res.Failed, "skipped", res.Skipped, "deferred", res.Deferred)
}

func (c *cronSweeps) wait() { c.running.Wait() }
