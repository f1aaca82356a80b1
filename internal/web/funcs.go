package web

import (
	"fmt"
	"html/template"
	"math"
	"net/url"
	"strings"
	"time"

	"github.com/tokenkeeper/tokenkeeper"
)

// funcs are the helpers the templates use.
var funcs = template.FuncMap{
	"stamp":    stamp,
	"iso":      func(t time.Time) string { return t.UTC().Format(time.RFC3339) },
	"rel":      relative,
	"dur":      duration,
	"pct":      percent,
	"statuses": func() []tokenkeeper.Status { return tokenkeeper.Statuses },
	"label":    statusLabel,
	"query":    query,
	"dict":     dict,
	"f1":       func(f float64) string { return fmt.Sprintf("%.1f", f) },
	"plus":     func(a, b float64) float64 { return a + b },
}

// stamp formats a time in UTC to the minute; "—" for the zero time.
func stamp(t time.Time) string {
	if t.IsZero() {
		return "—"
	}
	return t.UTC().Format("2006-01-02 15:04 UTC")
}

// relative says how far t is from now: "in 9 min", "3 h ago", "—".
func relative(t, now time.Time) string {
	if t.IsZero() {
		return "—"
	}
	d := t.Sub(now)
	future := d >= 0
	if !future {
		d = -d
	}
	var s string
	switch {
	case d < time.Minute:
		s = fmt.Sprintf("%d s", int(d.Seconds()))
	case d < time.Hour:
		s = fmt.Sprintf("%d min", int(d.Minutes()))
	case d < 10*time.Hour:
		s = strings.TrimSuffix(fmt.Sprintf("%.1f", d.Hours()), ".0") + " h"
	case d < 48*time.Hour:
		s = fmt.Sprintf("%d h", int(d.Hours()))
	default:
		s = fmt.Sprintf("%d days", int(d.Hours()/24))
	}
	if future {
		return "in " + s
	}
	return s + " ago"
}

// duration formats a refresh's duration in milliseconds or seconds.
func duration(d time.Duration) string {
	if d < time.Second {
		return fmt.Sprintf("%d ms", d.Milliseconds())
	}
	return fmt.Sprintf("%.1f s", d.Seconds())
}

// percent formats a ratio in [0,1]; NaN (no data) prints "—".
func percent(r float64) string {
	if math.IsNaN(r) {
		return "—"
	}
	if r >= 0.999 && r < 1 {
		return "99.9%"
	}
	return fmt.Sprintf("%.1f%%", 100*r)
}

// statusLabel is a status as people read it.
func statusLabel(s tokenkeeper.Status) string {
	switch s {
	case tokenkeeper.StatusNeedsReauth:
		return "needs reauth"
	}
	return string(s)
}

// query returns a query string ("?a=1&b=2") from key/value pairs, leaving
// out empty values.
func query(kv ...string) template.URL {
	v := url.Values{}
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i+1] != "" {
			v.Set(kv[i], kv[i+1])
		}
	}
	if len(v) == 0 {
		return ""
	}
	return template.URL("?" + v.Encode())
}

// dict builds a map for passing several values to a sub-template.
func dict(kv ...any) map[string]any {
	m := make(map[string]any, len(kv)/2)
	for i := 0; i+1 < len(kv); i += 2 {
		if k, ok := kv[i].(string); ok {
			m[k] = kv[i+1]
		}
	}
	return m
}
