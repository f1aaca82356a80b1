package catalog

import (
	"errors"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// maxDuration bounds every duration in a providers file (100 years), so that
// day counts cannot overflow time.Duration.
const maxDuration = 36500 * 24 * time.Hour

// errDuration is the message of every malformed duration; it never repeats
// the value, which may be something an operator pasted by mistake.
var errDuration = errors.New(`want a duration such as "90m", "1h30m", "60d" or "1d12h"`)

// ParseDuration parses a non-negative duration written as a Go duration
// ("90m", "1h30m"), a day count ("60d", "1.5d"), or a day count followed by a
// Go duration ("1d12h"). It rejects negative values, bare numbers other than
// "0", and anything longer than 100 years.
func ParseDuration(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if s == "" || strings.ContainsAny(s, "+-") {
		return 0, errDuration
	}
	var total time.Duration
	rest := s
	if i := strings.IndexByte(s, 'd'); i >= 0 {
		days, err := parseDays(s[:i])
		if err != nil {
			return 0, err
		}
		total, rest = days, s[i+1:]
	}
	if rest != "" {
		d, err := time.ParseDuration(rest)
		if err != nil {
			return 0, errDuration
		}
		total += d
	}
	if total < 0 || total > maxDuration {
		return 0, errDuration
	}
	return total, nil
}

// parseDays parses "60" or "1.5" (decimal digits, at most one point) as days.
func parseDays(s string) (time.Duration, error) {
	if s == "" || len(s) > 12 {
		return 0, errDuration
	}
	dots := 0
	for _, r := range s {
		switch {
		case r == '.':
			dots++
		case r < '0' || r > '9':
			return 0, errDuration
		}
	}
	if dots > 1 || s == "." {
		return 0, errDuration
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || f*24 > float64(maxDuration/time.Hour) {
		return 0, errDuration
	}
	return time.Duration(f * float64(24*time.Hour)), nil
}

// duration is a time.Duration decoded from YAML with ParseDuration.
type duration time.Duration

// UnmarshalYAML implements yaml.Unmarshaler.
func (d *duration) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return errDuration
	}
	v, err := ParseDuration(n.Value)
	if err != nil {
		return err
	}
	*d = duration(v)
	return nil
}
