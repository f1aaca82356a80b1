package clock

import (
	"testing"
	"time"

	"pgregory.net/rapid"
)

// fakeModel is the reference: a waiter fires once the time has reached its
// deadline, and receives the deadline.
type fakeModel struct {
	f       *Fake
	now     time.Time
	waiters []modelWaiter
}

type modelWaiter struct {
	at    time.Time
	ch    <-chan time.Time
	fired bool // the fake time has reached at since After
	seen  bool // the test received the value
}

func (m *fakeModel) moveTo(t time.Time) {
	m.now = t
	for i := range m.waiters {
		if !m.waiters[i].at.After(t) {
			m.waiters[i].fired = true
		}
	}
}

// TestFakeProperty runs random sequences of After, Advance and Set against
// the model and checks after each step that exactly the due waiters fired,
// each with its deadline, and that Waiters counts the others.
func TestFakeProperty(t *testing.T) {
	t.Parallel()
	rapid.Check(t, func(t *rapid.T) {
		m := &fakeModel{f: NewFake(start), now: start}
		second := func(label string, lo, hi int) time.Duration {
			return time.Duration(rapid.IntRange(lo, hi).Draw(t, label)) * time.Second
		}
		t.Repeat(map[string]func(*rapid.T){
			"After": func(t *rapid.T) {
				d := second("d", -2, 10)
				w := modelWaiter{at: m.now.Add(max(d, 0)), ch: m.f.After(d)}
				w.fired = d <= 0
				m.waiters = append(m.waiters, w)
			},
			"Advance": func(t *rapid.T) {
				d := second("advance", -3, 6)
				m.f.Advance(d)
				m.moveTo(m.now.Add(d))
			},
			"Set": func(t *rapid.T) {
				to := start.Add(second("set", -5, 30))
				m.f.Set(to)
				m.moveTo(to)
			},
			"": func(t *rapid.T) {
				if got := m.f.Now(); !got.Equal(m.now) {
					t.Fatalf("Now = %v, want %v", got, m.now)
				}
				pending := 0
				for i := range m.waiters {
					w := &m.waiters[i]
					if !w.fired {
						pending++
					}
					if w.seen {
						continue
					}
					got, ok := received(w.ch)
					if ok != w.fired {
						t.Fatalf("waiter %d (deadline %v, now %v): fired = %v, want %v", i, w.at, m.now, ok, w.fired)
					}
					if ok {
						w.seen = true
						if !got.Equal(w.at) {
							t.Fatalf("waiter %d received %v, want %v", i, got, w.at)
						}
					}
				}
				if got := m.f.Waiters(); got != pending {
					t.Fatalf("Waiters = %d, want %d", got, pending)
				}
			},
		})
	})
}
