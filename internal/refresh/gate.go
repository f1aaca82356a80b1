package refresh

import (
	"context"
	"math/rand/v2"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"

	"github.com/tokenkeeper/tokenkeeper"
)

// Limits bound the calls sent to one provider.
type Limits struct {
	// Rate is the refreshes per second (0: unlimited); Burst the bucket size.
	Rate  float64
	Burst int
	// MaxConcurrent is the most refreshes in flight at once (0: unlimited).
	MaxConcurrent int
}

// ProviderGate implements Gate with, per provider, a token-bucket rate limit
// (golang.org/x/time/rate, driven by the injected clock), a concurrency
// limit and a circuit breaker that counts transient failures only. While a
// breaker is open, calls are deferred, not failed: no counter moves and no
// user is told their connection is broken when the provider is down.
type ProviderGate struct {
	clock    tokenkeeper.Clock
	catalog  tokenkeeper.Catalog
	defaults Limits
	breakers BreakerSettings
	// maxWait is the longest a call waits for the rate limit before it is
	// deferred instead.
	maxWait time.Duration
	rand    func() float64

	mu        sync.Mutex
	providers map[string]*providerGate

	onChange atomic.Pointer[func(provider string, open bool)]
}

type providerGate struct {
	limiter *rate.Limiter
	sem     chan struct{}
	breaker *breaker
	outage  atomic.Bool // OnBreakerChange was told the breaker opened
}

// GateOptions configure a ProviderGate.
type GateOptions struct {
	Clock   tokenkeeper.Clock
	Catalog tokenkeeper.Catalog
	// Defaults apply to providers whose catalog entry sets no limits.
	Defaults Limits
	Breaker  BreakerSettings
	// MaxWait: a call that would wait longer for the rate limit is deferred (1 s).
	MaxWait time.Duration
	Rand    func() float64
	// OnBreakerChange, when set, is called when a provider's breaker opens
	// (open=true) and when it closes again after a successful probe
	// (open=false): once per change, not for a probe that fails and reopens it.
	OnBreakerChange func(provider string, open bool)
}

// NewProviderGate returns a gate with the given options.
func NewProviderGate(o GateOptions) *ProviderGate {
	if o.Clock == nil {
		o.Clock = realClock{}
	}
	if o.MaxWait <= 0 {
		o.MaxWait = time.Second
	}
	if o.Rand == nil {
		o.Rand = rand.Float64
	}
	g := &ProviderGate{clock: o.Clock, catalog: o.Catalog, defaults: o.Defaults, breakers: o.Breaker, maxWait: o.MaxWait, rand: o.Rand, providers: map[string]*providerGate{}}
	g.SetOnBreakerChange(o.OnBreakerChange)
	return g
}

// SetOnBreakerChange replaces the OnBreakerChange hook (nil removes it); it
// may be called while the gate is in use.
func (g *ProviderGate) SetOnBreakerChange(f func(provider string, open bool)) {
	if f == nil {
		g.onChange.Store(nil)
		return
	}
	g.onChange.Store(&f)
}

// breakerChanged calls the OnBreakerChange hook when pg's breaker has opened
// or closed since the hook was last told.
func (g *ProviderGate) breakerChanged(name string, pg *providerGate, now time.Time) {
	f := g.onChange.Load()
	if f == nil {
		return
	}
	switch st, _ := pg.breaker.current(now); {
	case st == breakerOpen && pg.outage.CompareAndSwap(false, true):
		(*f)(name, true)
	case st == breakerClosed && pg.outage.CompareAndSwap(true, false):
		(*f)(name, false)
	}
}

func (g *ProviderGate) get(name string) *providerGate {
	g.mu.Lock()
	defer g.mu.Unlock()
	if pg, ok := g.providers[name]; ok {
		return pg
	}
	l := g.defaults
	if g.catalog != nil {
		if p, ok := g.catalog.Provider(name); ok {
			if p.RateLimit > 0 {
				l.Rate, l.Burst = p.RateLimit, p.Burst
			}
			if p.MaxConcurrent > 0 {
				l.MaxConcurrent = p.MaxConcurrent
			}
		}
	}
	pg := &providerGate{breaker: newBreaker(g.breakers)}
	if l.Rate > 0 {
		pg.limiter = rate.NewLimiter(rate.Limit(l.Rate), max(l.Burst, 1))
	}
	if l.MaxConcurrent > 0 {
		pg.sem = make(chan struct{}, l.MaxConcurrent)
	}
	g.providers[name] = pg
	return pg
}

// Do implements Gate.
func (g *ProviderGate) Do(ctx context.Context, provider string, call func(context.Context) tokenkeeper.Outcome) (tokenkeeper.Outcome, time.Time, bool) {
	pg := g.get(provider)
	now := g.clock.Now()
	var res *rate.Reservation
	if pg.limiter != nil {
		res = pg.limiter.ReserveN(now, 1)
		if d := res.DelayFrom(now); d > g.maxWait || !res.OK() {
			res.CancelAt(now)
			return tokenkeeper.Outcome{}, now.Add(d + g.spread(d)), true
		}
	}
	ok, probe, until := pg.breaker.allow(now)
	if !ok {
		if res != nil {
			res.CancelAt(now)
		}
		return tokenkeeper.Outcome{}, until.Add(g.spread(g.breakerSpread())), true
	}
	if res != nil {
		if d := res.DelayFrom(now); d > 0 {
			select {
			case <-ctx.Done():
				pg.breaker.abandon()
				return tokenkeeper.Outcome{}, now.Add(d), true
			case <-g.clock.After(d):
			}
		}
	}
	if pg.sem != nil {
		select {
		case pg.sem <- struct{}{}:
			defer func() { <-pg.sem }()
		case <-ctx.Done():
			pg.breaker.abandon()
			return tokenkeeper.Outcome{}, g.clock.Now(), true
		}
	}
	o := call(ctx)
	done := g.clock.Now()
	failed := o.Class == tokenkeeper.ClassTransient
	pg.breaker.record(done, failed)
	g.breakerChanged(provider, pg, done)
	if probe && failed {
		// The probe confirmed the outage: the connection it used is deferred
		// like the others, its counters untouched.
		_, until := pg.breaker.current(done)
		return tokenkeeper.Outcome{}, until.Add(g.spread(g.breakerSpread())), true
	}
	return o, time.Time{}, false
}

// spread returns a random part of d, so deferred refreshes do not all come
// due in the same instant.
func (g *ProviderGate) spread(d time.Duration) time.Duration {
	return time.Duration(g.rand() * float64(d) * 0.2)
}

func (g *ProviderGate) breakerSpread() time.Duration {
	if g.breakers.OpenFor > 0 {
		return g.breakers.OpenFor
	}
	return 30 * time.Second
}

// Blocked returns the providers whose breakers refuse calls at now, sorted,
// and the earliest time one of them lets a probe through.
func (g *ProviderGate) Blocked(now time.Time) ([]string, time.Time) {
	g.mu.Lock()
	defer g.mu.Unlock()
	var names []string
	var earliest time.Time
	for name, pg := range g.providers {
		st, until := pg.breaker.current(now)
		if st != breakerOpen {
			continue
		}
		names = append(names, name)
		if earliest.IsZero() || until.Before(earliest) {
			earliest = until
		}
	}
	sort.Strings(names)
	return names, earliest
}

// BreakerStates returns each known provider's breaker state at now:
// "closed", "open" or "half_open" (for metrics and the admin page).
func (g *ProviderGate) BreakerStates(now time.Time) map[string]string {
	g.mu.Lock()
	defer g.mu.Unlock()
	out := make(map[string]string, len(g.providers))
	for name, pg := range g.providers {
		st, _ := pg.breaker.current(now)
		out[name] = st.String()
	}
	return out
}
