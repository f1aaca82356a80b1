package catalog

import (
	"strconv"
	"testing"
	"time"

	"pgregory.net/rapid"
)

func TestParseDuration(t *testing.T) {
	t.Parallel()
	const day = 24 * time.Hour
	tests := []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"0", 0, true},
		{"90m", 90 * time.Minute, true},
		{"1h30m", 90 * time.Minute, true},
		{"60d", 60 * day, true},
		{"365d", 365 * day, true},
		{"1.5d", 36 * time.Hour, true},
		{"1d12h", 36 * time.Hour, true},
		{" 2h ", 2 * time.Hour, true},
		{"36500d", 36500 * day, true},
		{"36501d", 0, false},
		{"3600", 0, false},
		{"", 0, false},
		{"-1h", 0, false},
		{"+1h", 0, false},
		{"d", 0, false},
		{"1dd", 0, false},
		{"1d1d", 0, false},
		{"1.2.3d", 0, false},
		{".d", 0, false},
		{"NaNd", 0, false},
		{"1e3d", 0, false},
		{"1d-1h", 0, false},
		{"1d9999999999h", 0, false},
		{"5 days", 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			t.Parallel()
			got, err := ParseDuration(tt.in)
			if (err == nil) != tt.ok || got != tt.want {
				t.Errorf("ParseDuration(%q) = %v, %v; want %v, ok %v", tt.in, got, err, tt.want, tt.ok)
			}
		})
	}
}

// TestParseDurationRoundTrip: any duration up to the limit, written as whole
// days plus a Go duration for the rest, parses back exactly.
func TestParseDurationRoundTrip(t *testing.T) {
	t.Parallel()
	rapid.Check(t, func(t *rapid.T) {
		d := time.Duration(rapid.Int64Range(0, int64(maxDuration)).Draw(t, "d"))
		days := d / (24 * time.Hour)
		s := strconv.FormatInt(int64(days), 10) + "d"
		if rest := d - days*24*time.Hour; rest > 0 {
			s += rest.String()
		}
		got, err := ParseDuration(s)
		if err != nil || got != d {
			t.Fatalf("ParseDuration(%q) = %v, %v; want %v", s, got, err, d)
		}
		if plain, err := ParseDuration(d.String()); err != nil || plain != d {
			t.Fatalf("ParseDuration(%q) = %v, %v; want %v", d.String(), plain, err, d)
		}
	})
}
