package refresh

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tokenkeeper/tokenkeeper"
	"github.com/tokenkeeper/tokenkeeper/internal/clock"
)

func TestGateRateLimitDefers(t *testing.T) {
	t.Parallel()
	fc := clock.NewFake(simStart)
	g := NewProviderGate(GateOptions{Clock: fc, Defaults: Limits{Rate: 1, Burst: 2}, MaxWait: time.Nanosecond})
	calls := 0
	ok := func(context.Context) tokenkeeper.Outcome {
		calls++
		return tokenkeeper.Outcome{Class: tokenkeeper.ClassSuccess}
	}
	for i := range 2 {
		if _, _, deferred := g.Do(context.Background(), "acme", ok); deferred {
			t.Fatalf("call %d within the burst was deferred", i)
		}
	}
	_, until, deferred := g.Do(context.Background(), "acme", ok)
	if !deferred || until.Before(simStart.Add(time.Second)) || calls != 2 {
		t.Fatalf("third call: deferred=%v until=%s calls=%d", deferred, until, calls)
	}
	// Other providers have their own bucket.
	if _, _, deferred := g.Do(context.Background(), "other", ok); deferred {
		t.Fatal("another provider was deferred")
	}
	fc.Advance(time.Second)
	if _, _, deferred := g.Do(context.Background(), "acme", ok); deferred {
		t.Fatal("deferred after the bucket refilled")
	}
}

func TestGateConcurrencyLimit(t *testing.T) {
	t.Parallel()
	g := NewProviderGate(GateOptions{Defaults: Limits{MaxConcurrent: 2}})
	var inFlight, peak atomic.Int32
	release := make(chan struct{})
	entered := make(chan struct{}, 6)
	var wg sync.WaitGroup
	for range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			g.Do(context.Background(), "acme", func(context.Context) tokenkeeper.Outcome {
				n := inFlight.Add(1)
				for {
					p := peak.Load()
					if n <= p || peak.CompareAndSwap(p, n) {
						break
					}
				}
				entered <- struct{}{}
				<-release
				inFlight.Add(-1)
				return tokenkeeper.Outcome{Class: tokenkeeper.ClassSuccess}
			})
		}()
	}
	<-entered
	<-entered // two calls are inside; the other four wait for a slot
	close(release)
	wg.Wait()
	if peak.Load() != 2 {
		t.Fatalf("peak concurrency %d, want 2", peak.Load())
	}
}

func TestGateBreakerDefersAndCountsNothing(t *testing.T) {
	t.Parallel()
	fc := clock.NewFake(simStart)
	g := NewProviderGate(GateOptions{Clock: fc})
	fail := func(context.Context) tokenkeeper.Outcome {
		return tokenkeeper.Outcome{Class: tokenkeeper.ClassTransient, Code: "http_503", HTTPStatus: 503}
	}
	for range 5 {
		if _, _, deferred := g.Do(context.Background(), "acme", fail); deferred {
			t.Fatal("deferred before the breaker opened")
		}
	}
	if blocked, reopen := g.Blocked(fc.Now()); len(blocked) != 1 || blocked[0] != "acme" || !reopen.After(fc.Now()) {
		t.Fatalf("blocked %v reopen %s", blocked, reopen)
	}
	called := false
	_, until, deferred := g.Do(context.Background(), "acme", func(context.Context) tokenkeeper.Outcome {
		called = true
		return tokenkeeper.Outcome{Class: tokenkeeper.ClassSuccess}
	})
	if !deferred || called || !until.After(fc.Now()) {
		t.Fatalf("open breaker: deferred=%v called=%v", deferred, called)
	}
	if st := g.BreakerStates(fc.Now())["acme"]; st != "open" {
		t.Fatalf("state %s", st)
	}
	// The probe after the pause fails: it is deferred too (no counter moves).
	fc.Advance(time.Minute)
	if _, _, deferred := g.Do(context.Background(), "acme", fail); !deferred {
		t.Fatal("a failed probe was reported as a failure")
	}
}
