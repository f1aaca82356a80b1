package notify

import (
	"context"
	"errors"
)

// Pass counts what one pass of the service did.
type Pass struct {
	// Events is the number of events claimed for dispatch.
	Events int
	// Digests is the number of digest e-mails created.
	Digests int
	// Claimed is the number of deliveries attempted; Delivered, Retried and
	// Dead what became of them.
	Claimed, Delivered, Retried, Dead int
}

// busy reports whether the pass found work, so more may be waiting.
func (p Pass) busy() bool { return p.Events > 0 || p.Digests > 0 || p.Claimed > 0 }

func (p *Pass) add(q Pass) {
	p.Events += q.Events
	p.Digests += q.Digests
	p.Claimed += q.Claimed
	p.Delivered += q.Delivered
	p.Retried += q.Retried
	p.Dead += q.Dead
}

// RunOnce makes one pass: it dispatches a batch of events, creates the due
// digests, and attempts up to Workers due deliveries. Errors of one step do
// not stop the others; they are joined.
func (s *Service) RunOnce(ctx context.Context) (Pass, error) {
	var p Pass
	var errs []error
	var err error
	if p.Events, err = s.dispatchEvents(ctx); err != nil {
		errs = append(errs, err)
	}
	if p.Digests, err = s.digests(ctx); err != nil {
		errs = append(errs, err)
	}
	var o outcome
	if p.Claimed, o, err = s.deliverDue(ctx); err != nil {
		errs = append(errs, err)
	}
	p.Delivered, p.Retried, p.Dead = o.delivered, o.retried, o.dead
	return p, errors.Join(errs...)
}

// Drain makes passes until one finds nothing to do at the clock's current
// time: every event dispatched and every delivery due now attempted once
// more. Deliveries retried later stay pending. It returns the sum of the passes.
func (s *Service) Drain(ctx context.Context) (Pass, error) {
	var total Pass
	for {
		p, err := s.RunOnce(ctx)
		total.add(p)
		if err != nil || !p.busy() || ctx.Err() != nil {
			return total, err
		}
	}
}

// Start runs passes in the background until Stop: back to back while there
// is work, then every PollInterval.
func (s *Service) Start(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cancel != nil {
		return errors.New("notify: already started")
	}
	ctx, cancel := context.WithCancel(ctx)
	s.cancel, s.done = cancel, make(chan struct{})
	go func() {
		defer close(s.done)
		s.loop(ctx)
	}()
	return nil
}

// Stop stops the loop and waits for the pass in flight: sends in progress
// end (cut short, they are recorded as due again at once).
func (s *Service) Stop() {
	s.mu.Lock()
	cancel, done := s.cancel, s.done
	s.cancel = nil
	s.mu.Unlock()
	if cancel == nil {
		return
	}
	cancel()
	<-done
}

func (s *Service) loop(ctx context.Context) {
	for ctx.Err() == nil {
		p, err := s.RunOnce(ctx)
		if err != nil && ctx.Err() == nil {
			s.log.Warn("notifier pass", "err", err)
		}
		if err == nil && p.busy() {
			continue
		}
		s.sleep(ctx)
	}
}

// sleep waits for PollInterval, reporting to Idle first when it is set.
func (s *Service) sleep(ctx context.Context) {
	until := s.clock.Now().Add(s.o.PollInterval)
	timer := s.clock.After(s.o.PollInterval)
	idle := s.o.Idle
	for {
		select {
		case idle <- until:
			idle = nil
			continue
		case <-ctx.Done():
		case <-timer:
		}
		return
	}
}
