//go:build !linux

package e2e

import (
	"os/exec"
	"time"
)

// dieWithParent does nothing outside Linux: an interrupted test may leave
// its replicas running until they are killed by hand.
func dieWithParent(*exec.Cmd) {}

// cpuTime returns 0 outside Linux: it is not measured.
func cpuTime(int) time.Duration { return 0 }
