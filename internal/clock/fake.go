package clock

import (
	"cmp"
	"context"
	"slices"
	"sync"
	"time"
)

// Fake is a clock that moves only when told to. After registers a waiter
// that fires when the fake time reaches its deadline; Advance and Set move
// the time and fire the waiters that are due. A Fake is safe for concurrent
// use. Its zero value starts at the zero time; NewFake sets the start.
type Fake struct {
	mu      sync.Mutex
	now     time.Time
	seq     uint64 // orders waiters with equal deadlines by registration
	waiters []waiter
	changed chan struct{} // closed and replaced when len(waiters) changes
}

type waiter struct {
	at  time.Time
	seq uint64
	ch  chan time.Time
}

// NewFake returns a fake clock whose time is start.
func NewFake(start time.Time) *Fake { return &Fake{now: start} }

// Now returns the fake time.
func (f *Fake) Now() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.now
}

// After returns a channel (buffered, capacity 1) that receives the deadline
// Now()+d once the fake time reaches it through Advance or Set. When d <= 0
// the channel has already received Now(). A waiter counts in Waiters until
// it fires, even if nobody receives from its channel any more.
func (f *Fake) After(d time.Duration) <-chan time.Time {
	ch := make(chan time.Time, 1)
	f.mu.Lock()
	defer f.mu.Unlock()
	if d <= 0 {
		ch <- f.now
		return ch
	}
	f.seq++
	f.waiters = append(f.waiters, waiter{at: f.now.Add(d), seq: f.seq, ch: ch})
	f.signal()
	return ch
}

// Advance moves the fake time by d and fires every waiter whose deadline is
// at or before the new time, in deadline order (registration order for equal
// deadlines). Each fired channel receives its deadline. A negative d moves
// the time back and fires nothing.
func (f *Fake) Advance(d time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.setLocked(f.now.Add(d))
}

// Set moves the fake time to t, forwards or back, and fires the waiters that
// are due as Advance does.
func (f *Fake) Set(t time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.setLocked(t)
}

// Waiters returns the number of After calls whose channels have not fired.
func (f *Fake) Waiters() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.waiters)
}

// WaitForWaiters blocks until at least n After calls are pending, that is,
// until the code under test is waiting on the clock, and returns nil; or
// until ctx ends, and returns ctx.Err(). It is woken by After and by firing,
// not by polling.
func (f *Fake) WaitForWaiters(ctx context.Context, n int) error {
	for {
		f.mu.Lock()
		if len(f.waiters) >= n {
			f.mu.Unlock()
			return nil
		}
		if f.changed == nil {
			f.changed = make(chan struct{})
		}
		changed := f.changed
		f.mu.Unlock()
		select {
		case <-changed:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// setLocked sets the time and fires the due waiters. f.mu must be held.
func (f *Fake) setLocked(t time.Time) {
	f.now = t
	var due []waiter
	kept := f.waiters[:0]
	for _, w := range f.waiters {
		if w.at.After(t) {
			kept = append(kept, w)
		} else {
			due = append(due, w)
		}
	}
	if len(due) == 0 {
		return
	}
	clear(f.waiters[len(kept):]) // drop references to fired channels
	f.waiters = kept
	slices.SortFunc(due, func(a, b waiter) int {
		if c := a.at.Compare(b.at); c != 0 {
			return c
		}
		return cmp.Compare(a.seq, b.seq)
	})
	for _, w := range due {
		w.ch <- w.at // never blocks: capacity 1, one send per channel
	}
	f.signal()
}

// signal wakes WaitForWaiters calls. f.mu must be held.
func (f *Fake) signal() {
	if f.changed != nil {
		close(f.changed)
		f.changed = nil
	}
}
