// Package clock provides the clocks that tokenkeeper's services wait on:
// Real, the system clock, and Fake, a clock that tests move by hand.
//
// Both implement tokenkeeper.Clock. Code under test asks the clock for the
// time and for a channel to wait on (After); the test waits until that code
// is asleep (Fake.WaitForWaiters), then moves the time (Fake.Advance), so no
// test sleeps or depends on the machine's speed.
package clock

import (
	"time"

	"github.com/tokenkeeper/tokenkeeper"
)

var (
	_ tokenkeeper.Clock = Real{}
	_ tokenkeeper.Clock = (*Fake)(nil)
)

// Real is the system clock. Its zero value is ready to use.
type Real struct{}

// Now returns time.Now().
func (Real) Now() time.Time { return time.Now() }

// After returns time.After(d): a channel that receives the current time once
// d has passed, at once when d <= 0.
func (Real) After(d time.Duration) <-chan time.Time { return time.After(d) }
