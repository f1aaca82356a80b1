package refresh

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/tokenkeeper/tokenkeeper"
)

// SchedulerOptions configure a Scheduler. Refresher and Store are required.
type SchedulerOptions struct {
	Refresher *Refresher
	Store     tokenkeeper.Store
	Catalog   tokenkeeper.Catalog
	// Gate, when set, is the refresher's gate: the scheduler skips providers
	// whose breaker is open instead of claiming their connections.
	Gate   *ProviderGate
	Clock  tokenkeeper.Clock
	Logger *slog.Logger
	// Workers is the most refreshes in flight at once (8).
	Workers int
	// BatchSize is the most connections claimed at once (100).
	BatchSize int
	// PollInterval is the longest the scheduler sleeps (5 s); it wakes earlier
	// for the next due connection, a cron sweep, or Wake.
	PollInterval time.Duration
	// Idle, when set, receives the planned wake-up time every time the
	// scheduler goes to sleep with no refresh in flight (tests use it to move
	// a fake clock instead of sleeping).
	Idle chan<- time.Time
}

// Scheduler refreshes every connection close to its own next_refresh_at:
// it claims due connections in batches with a lease, refreshes them on a
// bounded worker pool, and sleeps until the next due time, the poll
// interval or an early Wake. Its cost per pass grows with the number of due
// connections, not the number stored (the claim uses the next_refresh_at
// index). It also runs the providers' cron sweeps.
type Scheduler struct {
	o     SchedulerOptions
	log   *slog.Logger
	clock tokenkeeper.Clock
	slots chan struct{}
	wake  chan struct{}
	// drained receives when the last refresh in flight finishes.
	drained chan struct{}
	cron    *cronSweeps

	mu      sync.Mutex
	planned time.Time // when the loop plans to wake
	cancel  context.CancelFunc
	done    chan struct{}
	workers sync.WaitGroup
}

// NewScheduler returns a scheduler; Start runs it.
func NewScheduler(o SchedulerOptions) *Scheduler {
	if o.Workers <= 0 {
		o.Workers = 8
	}
	if o.BatchSize <= 0 {
		o.BatchSize = 100
	}
	if o.PollInterval <= 0 {
		o.PollInterval = 5 * time.Second
	}
	if o.Clock == nil {
		o.Clock = o.Refresher.clock
	}
	if o.Logger == nil {
		o.Logger = o.Refresher.log
	}
	s := &Scheduler{o: o, log: o.Logger, clock: o.Clock, slots: make(chan struct{}, o.Workers), wake: make(chan struct{}, 1), drained: make(chan struct{}, 1)}
	s.cron = newCronSweeps(s)
	return s
}

// Start runs the scheduler in the background until Stop. It returns an
// error when a provider's sweep_schedule does not parse.
func (s *Scheduler) Start(ctx context.Context) error {
	if err := s.cron.load(s.clock.Now()); err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	s.mu.Lock()
	s.cancel, s.done = cancel, make(chan struct{})
	s.mu.Unlock()
	go func() {
		defer close(s.done)
		s.loop(ctx)
	}()
	return nil
}

// Stop stops claiming and waits for the refreshes in flight to finish: each
// commits its result or, when cut short, releases its lease.
func (s *Scheduler) Stop() {
	s.mu.Lock()
	cancel, done := s.cancel, s.done
	s.mu.Unlock()
	if cancel == nil {
		return
	}
	cancel()
	<-done
	s.workers.Wait()
	s.cron.wait()
}

// Wake tells the scheduler that a connection became due at next; it wakes
// early when that is before its planned wake-up. Safe to call from any
// goroutine; it never blocks.
func (s *Scheduler) Wake(next time.Time) {
	if next.IsZero() {
		return
	}
	s.mu.Lock()
	sooner := s.planned.IsZero() || next.Before(s.planned)
	s.mu.Unlock()
	if sooner {
		select {
		case s.wake <- struct{}{}:
		default:
		}
	}
}

func (s *Scheduler) loop(ctx context.Context) {
	for ctx.Err() == nil {
		if full := s.pass(ctx); full {
			continue // a whole batch was due: more may be
		}
		s.sleep(ctx)
	}
}

// pass claims as many due connections as there are free workers and starts
// their refreshes. It reports whether it claimed all it asked for.
func (s *Scheduler) pass(ctx context.Context) (full bool) {
	free := s.acquireSlots(ctx)
	if free == 0 {
		return false
	}
	now := s.clock.Now()
	providers := s.claimable(now)
	conns, err := s.o.Store.ClaimDue(ctx, s.o.Refresher.owner, now, now.Add(s.o.Refresher.leaseTTL), free, providers)
	if err != nil {
		if ctx.Err() == nil {
			s.log.Error("claim due connections", "err", err)
		}
		s.releaseSlots(free)
		return false
	}
	s.releaseSlots(free - len(conns))
	for _, c := range conns {
		s.workers.Add(1)
		go func(id string) {
			defer s.workers.Done()
			defer s.workerDone()
			// The refresh runs to completion even when Stop is called: it
			// commits its result or releases its lease.
			_, _ = s.o.Refresher.RefreshClaimed(context.WithoutCancel(ctx), id, tokenkeeper.TriggerScheduler)
		}(c.ID)
	}
	return len(conns) == free
}

// acquireSlots takes every free worker slot, waiting for one when all are
// busy. It returns how many it took (0 when ctx ended).
func (s *Scheduler) acquireSlots(ctx context.Context) int {
	select {
	case s.slots <- struct{}{}:
	case <-ctx.Done():
		return 0
	}
	n := 1
	for n < s.o.BatchSize {
		select {
		case s.slots <- struct{}{}:
			n++
		default:
			return n
		}
	}
	return n
}

// workerDone frees a worker's slot and tells a sleeping loop when nothing is
// left in flight.
func (s *Scheduler) workerDone() {
	s.releaseSlots(1)
	s.signalIfQuiet()
}

// signalIfQuiet wakes a sleeping loop's Idle report once no refresh and no
// sweep is in progress.
func (s *Scheduler) signalIfQuiet() {
	if s.quiet() {
		select {
		case s.drained <- struct{}{}:
		default:
		}
	}
}

// quiet reports whether no refresh and no cron sweep is in progress.
func (s *Scheduler) quiet() bool { return len(s.slots) == 0 && s.cron.active.Load() == 0 }

func (s *Scheduler) releaseSlots(n int) {
	for range n {
		<-s.slots
	}
}

// claimable returns the providers to claim for: nil (all) unless some
// provider's breaker is open, whose connections then stay where they are.
func (s *Scheduler) claimable(now time.Time) []string {
	if s.o.Gate == nil || s.o.Catalog == nil {
		return nil
	}
	blocked, _ := s.o.Gate.Blocked(now)
	if len(blocked) == 0 {
		return nil
	}
	skip := make(map[string]bool, len(blocked))
	for _, b := range blocked {
		skip[b] = true
	}
	var out []string
	for _, p := range s.o.Catalog.Providers() {
		if !skip[p.Name] {
			out = append(out, p.Name)
		}
	}
	if len(out) == 0 {
		out = []string{""} // every provider is blocked: claim nothing
	}
	return out
}

// sleep waits until the next due connection, the next cron sweep, the poll
// interval, a Wake, or the end of ctx, whichever comes first.
func (s *Scheduler) sleep(ctx context.Context) {
	// A Wake that arrived while the loop was busy is stale: the next due
	// time is read below, after it.
	select {
	case <-s.wake:
	default:
	}
	now := s.clock.Now()
	until := now.Add(s.o.PollInterval)
	if next, ok, err := s.o.Store.NextDue(ctx); err == nil && ok && next.Before(until) {
		until = next
	}
	if t := s.cron.next(); !t.IsZero() && t.Before(until) {
		until = t
	}
	if !until.After(now) {
		// Something is due but was not claimed: its provider is paused (look
		// again when the breaker lets a probe through), or it came due just
		// after the claim (look again at once).
		until = now.Add(10 * time.Millisecond)
		if s.o.Gate != nil {
			if blocked, reopen := s.o.Gate.Blocked(now); len(blocked) > 0 {
				until = now.Add(s.o.PollInterval)
				if reopen.After(now) && reopen.Before(until) {
					until = reopen
				}
			}
		}
	}
	s.mu.Lock()
	s.planned = until
	s.mu.Unlock()
	timer := s.clock.After(until.Sub(now))
	wake, reported := s.wake, false
	for {
		// Tests: report Idle once no refresh is in flight; from then on only
		// the clock ends the sleep, since the test is about to move it.
		var idle chan<- time.Time
		if s.o.Idle != nil && !reported && s.quiet() {
			idle = s.o.Idle
		}
		select {
		case idle <- until:
			reported, wake = true, nil
			continue
		case <-s.drained:
			continue
		case <-ctx.Done():
		case <-timer:
		case <-wake:
		}
		break
	}
	s.mu.Lock()
	s.planned = time.Time{}
	s.mu.Unlock()
	s.cron.runDue(ctx, s.clock.Now())
}
