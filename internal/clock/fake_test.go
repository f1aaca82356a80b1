package clock

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"
)

var start = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// received returns the value on ch and true, or false when nothing is there.
func received(ch <-chan time.Time) (time.Time, bool) {
	select {
	case v := <-ch:
		return v, true
	default:
		return time.Time{}, false
	}
}

func TestFakeNowAdvanceSet(t *testing.T) {
	t.Parallel()
	f := NewFake(start)
	if got := f.Now(); !got.Equal(start) {
		t.Fatalf("Now = %v, want %v", got, start)
	}
	f.Advance(90 * time.Second)
	if got, want := f.Now(), start.Add(90*time.Second); !got.Equal(want) {
		t.Errorf("after Advance: Now = %v, want %v", got, want)
	}
	f.Set(start.Add(-time.Hour))
	if got, want := f.Now(), start.Add(-time.Hour); !got.Equal(want) {
		t.Errorf("after Set: Now = %v, want %v", got, want)
	}
	var zero Fake
	zero.Advance(time.Second)
	if got := zero.Now(); !got.Equal(time.Time{}.Add(time.Second)) {
		t.Errorf("zero Fake: Now = %v", got)
	}
}

func TestFakeAfter(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		d        time.Duration
		advances []time.Duration
		wantFire bool
	}{
		{"zero fires at once", 0, nil, true},
		{"negative fires at once", -time.Second, nil, true},
		{"not yet", time.Minute, []time.Duration{59 * time.Second}, false},
		{"exactly at deadline", time.Minute, []time.Duration{time.Minute}, true},
		{"in steps", time.Minute, []time.Duration{30 * time.Second, 30 * time.Second}, true},
		{"past deadline", time.Minute, []time.Duration{time.Hour}, true},
		{"backwards then not enough", time.Minute, []time.Duration{-time.Hour, time.Hour}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := NewFake(start)
			ch := f.After(tt.d)
			for _, d := range tt.advances {
				f.Advance(d)
			}
			got, fired := received(ch)
			if fired != tt.wantFire {
				t.Fatalf("fired = %v, want %v", fired, tt.wantFire)
			}
			want := start.Add(max(tt.d, 0))
			if fired && !got.Equal(want) {
				t.Errorf("received %v, want the deadline %v", got, want)
			}
			if wantWaiters := map[bool]int{true: 0, false: 1}[fired]; f.Waiters() != wantWaiters {
				t.Errorf("Waiters = %d, want %d", f.Waiters(), wantWaiters)
			}
		})
	}
}

func TestFakeFiresDueWaitersInOrder(t *testing.T) {
	t.Parallel()
	f := NewFake(start)
	durations := []time.Duration{3 * time.Second, time.Second, 2 * time.Second, time.Second}
	chans := make([]<-chan time.Time, len(durations))
	for i, d := range durations {
		chans[i] = f.After(d)
	}
	steps := []struct {
		to        time.Duration
		wantFired []int
	}{
		{999 * time.Millisecond, nil},
		{1500 * time.Millisecond, []int{1, 3}},
		{2 * time.Second, []int{2}},
		{10 * time.Second, []int{0}},
	}
	for _, s := range steps {
		f.Set(start.Add(s.to))
		fired := map[int]bool{}
		for _, i := range s.wantFired {
			fired[i] = true
		}
		for i, ch := range chans {
			got, ok := received(ch)
			if ok != fired[i] {
				t.Fatalf("at +%v: waiter %d (+%v) fired = %v, want %v", s.to, i, durations[i], ok, fired[i])
			}
			if ok && !got.Equal(start.Add(durations[i])) {
				t.Errorf("waiter %d received %v, want %v", i, got, start.Add(durations[i]))
			}
		}
	}
	if f.Waiters() != 0 {
		t.Errorf("Waiters = %d after all fired", f.Waiters())
	}
}

func TestFakeWaitForWaiters(t *testing.T) {
	t.Parallel()
	t.Run("wakes when code under test waits", func(t *testing.T) {
		t.Parallel()
		f := NewFake(start)
		done := make(chan time.Time)
		go func() {
			// The code under test: wait 5 minutes, twice.
			<-f.After(5 * time.Minute)
			done <- <-f.After(5 * time.Minute)
		}()
		for range 2 {
			if err := f.WaitForWaiters(t.Context(), 1); err != nil {
				t.Fatal(err)
			}
			f.Advance(5 * time.Minute)
		}
		if got := <-done; !got.Equal(start.Add(10 * time.Minute)) {
			t.Errorf("second wait ended at %v, want +10m", got)
		}
	})
	t.Run("already satisfied", func(t *testing.T) {
		t.Parallel()
		f := NewFake(start)
		f.After(time.Second)
		ctx, cancel := context.WithCancel(t.Context())
		cancel() // must not matter: the condition holds
		for _, n := range []int{0, 1} {
			if err := f.WaitForWaiters(ctx, n); err != nil {
				t.Errorf("WaitForWaiters(%d) = %v, want nil", n, err)
			}
		}
	})
	t.Run("context ends", func(t *testing.T) {
		t.Parallel()
		f := NewFake(start)
		ctx, cancel := context.WithCancel(t.Context())
		errc := make(chan error)
		go func() { errc <- f.WaitForWaiters(ctx, 2) }()
		f.After(time.Second) // one is not enough
		cancel()
		if err := <-errc; !errors.Is(err, context.Canceled) {
			t.Errorf("WaitForWaiters = %v, want context.Canceled", err)
		}
	})
	t.Run("many waiters", func(t *testing.T) {
		t.Parallel()
		f := NewFake(start)
		const n = 20
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() { <-f.After(time.Duration(i+1) * time.Second) })
		}
		if err := f.WaitForWaiters(t.Context(), n); err != nil {
			t.Fatal(err)
		}
		f.Advance(n * time.Second)
		wg.Wait()
		if f.Waiters() != 0 {
			t.Errorf("Waiters = %d, want 0", f.Waiters())
		}
	})
}

// After, Advance, Now and Waiters from many goroutines at once; run with
// -race. Every waiter fires with its own deadline and none is lost.
func TestFakeConcurrent(t *testing.T) {
	t.Parallel()
	f := NewFake(start)
	const workers, rounds = 8, 50
	ctx, stop := context.WithCancel(t.Context())
	var driver sync.WaitGroup
	driver.Go(func() {
		for {
			if err := f.WaitForWaiters(ctx, 1); err != nil {
				return
			}
			f.Advance(time.Second)
			_ = f.Now()
		}
	})
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := range workers {
		wg.Go(func() {
			for r := range rounds {
				d := time.Duration(1+(w+r)%3) * time.Second
				before := f.Now()
				got := <-f.After(d)
				if got.Before(before.Add(d)) {
					errs <- errors.New("waiter fired before its deadline")
					return
				}
				_ = f.Waiters()
			}
		})
	}
	wg.Wait()
	stop()
	driver.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if n := f.Waiters(); n != 0 {
		t.Errorf("Waiters = %d after all workers finished", n)
	}
}
