// Package retention keeps the history tables bounded: a Service, run by
// `serve`, deletes the refresh attempts, dispatched outbox events, finished
// deliveries and in-app notifications older than the retention
// (tokenkeeper.HistoryStore.PurgeHistory) once an interval. Replicas share
// the work through a named lease, so one of them purges at a time.
package retention

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/tokenkeeper/tokenkeeper"
	"github.com/tokenkeeper/tokenkeeper/internal/clock"
)

// Defaults and limits of the retention.
const (
	// DefaultRetention is how long history is kept unless configured: 30 days.
	DefaultRetention = 30 * 24 * time.Hour
	// MinRetention is the shortest retention allowed. The admin overview
	// and `connections list --overview` count the last 24 hours' attempts,
	// those of the partial hour that starts the window from the attempts'
	// rows (tokenkeeper.LoadOverview): a shorter retention would delete
	// rows they count.
	MinRetention = 24 * time.Hour
	// DefaultInterval is the pause between two purges.
	DefaultInterval = time.Hour
	// LeaseName is the named lease a replica holds while it is the one that
	// purges.
	LeaseName = "history-purge"
)

// Store is what the service needs: the purge and named leases.
type Store interface {
	tokenkeeper.HistoryStore
	AcquireNamedLease(ctx context.Context, name, owner string, now, until time.Time) (bool, error)
	ReleaseNamedLease(ctx context.Context, name, owner string) error
}

// Options configure a Service. Store and Retention are required.
type Options struct {
	Store Store
	// Retention is the age past which history is deleted; at least
	// MinRetention.
	Retention time.Duration
	// Interval is the pause between two passes (DefaultInterval when 0).
	Interval time.Duration
	// Batch is the most rows deleted per statement
	// (tokenkeeper.DefaultPurgeBatch when 0).
	Batch int
	// Clock tells the time and waits (the system clock when nil).
	Clock tokenkeeper.Clock
	// Owner names this process in the lease (a random name when empty).
	Owner string
	// Logger receives one line per purge, with the rows deleted per table;
	// nil discards.
	Logger *slog.Logger
	// OnPurge, when set, is called after every purge this process ran, with
	// the rows it deleted (also those deleted before a purge failed).
	OnPurge func(tokenkeeper.PurgeCounts)
}

// Service purges history in the background: at Start, then every
// Interval, the replica that holds (or takes) the lease LeaseName deletes
// the history older than Retention. It keeps the lease for an Interval, so
// the replicas together purge about once per Interval; when it stops, it
// frees the lease for another replica.
type Service struct {
	o   Options
	log *slog.Logger

	mu     sync.Mutex
	ctx    context.Context // Start's, for the release at Stop
	cancel context.CancelFunc
	done   chan struct{}
}

// New returns a Service, or an error when Store is missing or Retention is
// shorter than MinRetention.
func New(o Options) (*Service, error) {
	switch {
	case o.Store == nil:
		return nil, errors.New("retention: Options.Store is required")
	case o.Retention < MinRetention:
		return nil, fmt.Errorf("retention: the retention must be at least %s, not %s", MinRetention, o.Retention)
	case o.Interval < 0 || o.Batch < 0:
		return nil, errors.New("retention: Interval and Batch must not be negative")
	}
	if o.Interval == 0 {
		o.Interval = DefaultInterval
	}
	if o.Clock == nil {
		o.Clock = clock.Real{}
	}
	if o.Owner == "" {
		o.Owner = tokenkeeper.NewID("purger_")
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return &Service{o: o, log: o.Logger}, nil
}

// RunOnce purges the history older than Retention before the clock's now
// if this process holds the lease or can take it, and returns the rows
// deleted and true (the rows deleted also when the purge fails midway); it
// returns false, deleting nothing, when another process holds the lease.
func (s *Service) RunOnce(ctx context.Context) (tokenkeeper.PurgeCounts, bool, error) {
	now := s.o.Clock.Now()
	held, err := s.o.Store.AcquireNamedLease(ctx, LeaseName, s.o.Owner, now, now.Add(s.o.Interval))
	if err != nil {
		return tokenkeeper.PurgeCounts{}, false, fmt.Errorf("acquire the purge lease: %w", err)
	}
	if !held {
		return tokenkeeper.PurgeCounts{}, false, nil
	}
	c, err := s.o.Store.PurgeHistory(ctx, now.Add(-s.o.Retention), s.o.Batch)
	if s.o.OnPurge != nil {
		s.o.OnPurge(c)
	}
	return c, true, err
}

// pass runs RunOnce and logs what it did: the rows deleted per table,
// never a row's content.
func (s *Service) pass(ctx context.Context) {
	start := s.o.Clock.Now()
	c, ran, err := s.RunOnce(ctx)
	if ctx.Err() != nil {
		return
	}
	if !ran {
		if err != nil {
			s.log.Error("purge history", "err", err)
		} else {
			s.log.Debug("history purge skipped: another replica holds the lease", "lease", LeaseName)
		}
		return
	}
	attrs := []any{"retention", s.o.Retention, "refresh_attempts", c.Attempts, "events", c.Events,
		"deliveries", c.Deliveries, "notifications", c.Notifications, "duration", s.o.Clock.Now().Sub(start)}
	if err != nil {
		s.log.Error("purge history", append(attrs, "err", err)...)
		return
	}
	s.log.Info("history purged", attrs...)
}

// Start runs a pass now, then one every Interval after the previous one
// ends, in the background until ctx ends or Stop is called. It returns an
// error when the service is running already.
func (s *Service) Start(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.done != nil {
		return errors.New("retention: already started")
	}
	s.ctx = ctx
	ctx, s.cancel = context.WithCancel(ctx)
	done := make(chan struct{})
	s.done = done
	go func() {
		defer close(done)
		for {
			s.pass(ctx)
			select {
			case <-ctx.Done():
				return
			case <-s.o.Clock.After(s.o.Interval):
			}
		}
	}()
	return nil
}

// Stop ends the service, waits for the purge in flight (it stops at its
// next batch) and frees the lease. Stop on a service that is not running
// does nothing.
func (s *Service) Stop() {
	s.mu.Lock()
	cancel, done, ctx := s.cancel, s.done, s.ctx
	s.cancel, s.done = nil, nil
	s.mu.Unlock()
	if cancel == nil {
		return
	}
	cancel()
	<-done
	rctx, stop := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer stop()
	if err := s.o.Store.ReleaseNamedLease(rctx, LeaseName, s.o.Owner); err != nil {
		s.log.Warn("release the purge lease", "err", err)
	}
}
