package bench

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime/pprof"
	"slices"
	"time"
)

// percentile returns the p-th percentile (0–100) of sorted durations, 0
// when there are none.
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(float64(len(sorted)-1) * p / 100)
	return sorted[i]
}

// sortDurations sorts d in place and returns it.
func sortDurations(d []time.Duration) []time.Duration {
	slices.Sort(d)
	return d
}

// fmtRate formats a rate per second.
func fmtRate(x float64, unit string) string {
	switch {
	case x >= 100:
		return fmt.Sprintf("%.0f %s/s", x, unit)
	case x >= 10:
		return fmt.Sprintf("%.1f %s/s", x, unit)
	}
	return fmt.Sprintf("%.2f %s/s", x, unit)
}

// fmtDur formats a duration with three significant digits.
func fmtDur(d time.Duration) string {
	switch {
	case d == 0:
		return "0"
	case d < time.Microsecond:
		return d.String()
	case d < time.Millisecond:
		return fmt.Sprintf("%.1fµs", float64(d)/float64(time.Microsecond))
	case d < time.Second:
		return fmt.Sprintf("%.2fms", float64(d)/float64(time.Millisecond))
	case d < time.Minute:
		return fmt.Sprintf("%.2fs", d.Seconds())
	}
	return d.Round(time.Second).String()
}

// fmtBytes formats a byte count in MiB (or B under 10 KiB).
func fmtBytes(n int64) string {
	if n < 10<<10 {
		return fmt.Sprintf("%d B", n)
	}
	return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
}

// profile starts a CPU profile named name in the profile directory, when
// there is one, and returns the function that stops it.
func (h *harness) profile(name string) func() {
	if h.o.ProfileDir == "" {
		return func() {}
	}
	path := filepath.Join(h.o.ProfileDir, name+".pprof")
	f, err := os.Create(path)
	if err != nil {
		h.log.Warn("cannot write CPU profile", "path", path, "err", err)
		return func() {}
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		h.log.Warn("cannot start CPU profile", "path", path, "err", err)
		return func() {}
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
		h.log.Info("wrote CPU profile", "path", path)
	}
}
