package refresh

import (
	"sync"
	"time"
)

// breaker is a per-provider circuit breaker driven by the injected clock.
//
// It counts only transient failures (the provider is down or throttling);
// a permanent failure for one user is an answer, not an outage. Closed, it
// trips after consecutiveTrip transient failures in a row (whichever
// connections they were for: a trickle of refreshes finds an outage as surely
// as a burst), or when, within one window, at least minRequests calls were
// made and at least failureRatio of them failed transiently. Open, it refuses calls
// until openUntil; then it lets one probe through (half-open): a success
// closes it, a failure opens it again for twice as long, up to maxOpen.
//
// sony/gobreaker reads time.Now directly, so a simulated six-hour outage
// could not move it; this breaker takes the clock like the rest of the
// scheduler and keeps gobreaker's states and trip rule.
type breaker struct {
	mu sync.Mutex

	window       time.Duration
	minRequests  int
	failureRatio float64
	baseOpen     time.Duration
	maxOpen      time.Duration
	consecTrip   int

	state       breakerState
	windowStart time.Time
	requests    int
	failures    int
	consecutive int
	openFor     time.Duration
	openUntil   time.Time
	probing     bool
}

type breakerState int

const (
	breakerClosed breakerState = iota
	breakerOpen
	breakerHalfOpen
)

func (s breakerState) String() string {
	switch s {
	case breakerOpen:
		return "open"
	case breakerHalfOpen:
		return "half_open"
	}
	return "closed"
}

// BreakerSettings tune the per-provider circuit breakers.
type BreakerSettings struct {
	// Window is the period over which calls are counted while closed (60 s).
	Window time.Duration
	// MinRequests is the fewest calls in a window that can trip it (10).
	MinRequests int
	// FailureRatio is the share of transient failures that trips it (0.5).
	FailureRatio float64
	// ConsecutiveFailures trips it on that many transient failures in a row (5).
	ConsecutiveFailures int
	// OpenFor is the first pause after tripping (30 s); it doubles while
	// probes fail, up to MaxOpen (5 min).
	OpenFor time.Duration
	MaxOpen time.Duration
}

func newBreaker(s BreakerSettings) *breaker {
	if s.Window <= 0 {
		s.Window = time.Minute
	}
	if s.MinRequests <= 0 {
		s.MinRequests = 10
	}
	if s.FailureRatio <= 0 {
		s.FailureRatio = 0.5
	}
	if s.OpenFor <= 0 {
		s.OpenFor = 30 * time.Second
	}
	if s.ConsecutiveFailures <= 0 {
		s.ConsecutiveFailures = 5
	}
	if s.MaxOpen < s.OpenFor {
		s.MaxOpen = max(5*time.Minute, s.OpenFor)
	}
	return &breaker{window: s.Window, minRequests: s.MinRequests, failureRatio: s.FailureRatio, baseOpen: s.OpenFor, maxOpen: s.MaxOpen, openFor: s.OpenFor, consecTrip: s.ConsecutiveFailures}
}

// allow reports whether a call may go out at now, and whether that call is
// the half-open probe; when it may not, it returns the time at which the
// breaker will let a probe through.
func (b *breaker) allow(now time.Time) (ok, probe bool, until time.Time) {
	b.mu.Lock()
	defer b.mu.Unlock()
	switch b.state {
	case breakerOpen:
		if now.Before(b.openUntil) {
			return false, false, b.openUntil
		}
		b.state = breakerHalfOpen
		b.probing = false
		fallthrough
	case breakerHalfOpen:
		if b.probing {
			return false, false, now.Add(b.baseOpen)
		}
		b.probing = true
		return true, true, time.Time{}
	}
	if now.Sub(b.windowStart) >= b.window {
		b.windowStart, b.requests, b.failures = now, 0, 0
	}
	return true, false, time.Time{}
}

// record counts the result of an allowed call.
func (b *breaker) record(now time.Time, transientFailure bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	switch b.state {
	case breakerHalfOpen:
		b.probing = false
		if transientFailure {
			b.openFor = min(2*b.openFor, b.maxOpen)
			b.trip(now)
			return
		}
		b.state = breakerClosed
		b.openFor = b.baseOpen
		b.windowStart, b.requests, b.failures, b.consecutive = now, 0, 0, 0
		return
	case breakerOpen:
		return // a call let through before the trip finished; the trip stands
	}
	b.requests++
	if transientFailure {
		b.failures++
		b.consecutive++
	} else {
		b.consecutive = 0
	}
	if b.consecutive >= b.consecTrip || (b.requests >= b.minRequests && float64(b.failures) >= b.failureRatio*float64(b.requests)) {
		b.trip(now)
	}
}

func (b *breaker) trip(now time.Time) {
	b.state = breakerOpen
	b.openUntil = now.Add(b.openFor)
	b.windowStart, b.requests, b.failures, b.consecutive = now, 0, 0, 0
}

// abandon gives back a probe that was allowed but never sent.
func (b *breaker) abandon() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.state == breakerHalfOpen {
		b.probing = false
	}
}

// current returns the state at now and, when open, until when.
func (b *breaker) current(now time.Time) (breakerState, time.Time) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.state == breakerOpen && !now.Before(b.openUntil) {
		return breakerHalfOpen, time.Time{}
	}
	return b.state, b.openUntil
}
