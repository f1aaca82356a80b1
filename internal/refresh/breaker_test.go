package refresh

import (
	"testing"
	"time"
)

func TestBreaker(t *testing.T) {
	t.Parallel()
	now := simStart
	t.Run("trips on consecutive transient failures", func(t *testing.T) {
		t.Parallel()
		b := newBreaker(BreakerSettings{})
		for i := range 5 {
			if ok, _, _ := b.allow(now); !ok {
				t.Fatalf("refused call %d while closed", i)
			}
			b.record(now, true)
		}
		if ok, _, until := b.allow(now); ok || !until.Equal(now.Add(30*time.Second)) {
			t.Fatalf("open breaker allowed a call (until %s)", until)
		}
	})
	t.Run("permanent answers do not count", func(t *testing.T) {
		t.Parallel()
		b := newBreaker(BreakerSettings{})
		for range 50 {
			b.allow(now)
			b.record(now, false)
			b.allow(now)
			b.record(now, true) // alternating: never 5 in a row, ratio exactly 0.5 needs 10 calls
		}
		st, _ := b.current(now)
		if st != breakerOpen {
			t.Fatalf("state %s after a 50%% transient failure ratio", st)
		}
		b2 := newBreaker(BreakerSettings{})
		for range 100 {
			b2.allow(now)
			b2.record(now, false)
		}
		if st, _ := b2.current(now); st != breakerClosed {
			t.Fatalf("state %s after answers only", st)
		}
	})
	t.Run("one probe when half-open; a failed probe doubles the pause", func(t *testing.T) {
		t.Parallel()
		b := newBreaker(BreakerSettings{OpenFor: time.Minute, MaxOpen: 3 * time.Minute})
		for range 5 {
			b.allow(now)
			b.record(now, true)
		}
		later := now.Add(time.Minute)
		ok, probe, _ := b.allow(later)
		if !ok || !probe {
			t.Fatal("no probe after the pause")
		}
		if ok, _, _ := b.allow(later); ok {
			t.Fatal("a second call while the probe is out")
		}
		b.record(later, true)
		if ok, _, until := b.allow(later.Add(time.Minute)); ok || !until.Equal(later.Add(2*time.Minute)) {
			t.Fatalf("pause not doubled: until %s", until)
		}
		// Capped at MaxOpen.
		t2 := later.Add(2 * time.Minute)
		b.allow(t2)
		b.record(t2, true)
		if _, until := b.current(t2); !until.Equal(t2.Add(3 * time.Minute)) {
			t.Fatalf("pause not capped: until %s", until)
		}
		t3 := t2.Add(3 * time.Minute)
		b.allow(t3)
		b.record(t3, false)
		if st, _ := b.current(t3); st != breakerClosed {
			t.Fatalf("state %s after a good probe", st)
		}
	})
	t.Run("an abandoned probe is given back", func(t *testing.T) {
		t.Parallel()
		b := newBreaker(BreakerSettings{})
		for range 5 {
			b.allow(now)
			b.record(now, true)
		}
		later := now.Add(time.Hour)
		b.allow(later)
		b.abandon()
		if ok, probe, _ := b.allow(later); !ok || !probe {
			t.Fatal("the probe was not given back")
		}
	})
}
