package clock

import (
	"testing"
	"time"
)

func TestReal(t *testing.T) {
	t.Parallel()
	var c Real
	before := time.Now()
	now := c.Now()
	if now.Before(before) || now.After(time.Now()) {
		t.Errorf("Now() = %v, not between the surrounding time.Now calls", now)
	}
	for _, d := range []time.Duration{-time.Second, 0, time.Millisecond} {
		start := time.Now()
		got := <-c.After(d)
		if want := start.Add(d); got.Before(want) && d > 0 {
			t.Errorf("After(%v) fired at %v, before %v", d, got, want)
		}
	}
}
