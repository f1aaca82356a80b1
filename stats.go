package tokenkeeper

import (
	"context"
	"fmt"
	"sort"
	"time"
)

// StatsStore answers the aggregate questions of the Prometheus metrics, the
// admin page's overview and `connections list --overview`: how many
// connections are about to expire, and how refreshes went per provider over
// time. SQLite (internal/sqlite) and PostgreSQL (internal/postgres) implement
// it next to Store; internal/storetest.RunStats is its conformance suite.
// Every answer is bounded by the number of providers (and buckets), never by
// the number of connections.
type StatsStore interface {
	// CountExpiring returns, for every provider with at least one connected
	// connection whose access token expires at or before the last cutoff,
	// one ExpiringCount per cutoff, in the order of cutoffs: the number of
	// connected connections whose access token expiry is set and at or before
	// that cutoff (tokens already expired included). Results are ordered by
	// provider. Cutoffs must be in increasing order.
	CountExpiring(ctx context.Context, cutoffs []time.Time) ([]ExpiringCount, error)
	// CountAttempts returns the number of refresh attempts recorded at or
	// after since and before until, grouped by the provider of their
	// connection, by bucket (the attempt time truncated to a multiple of
	// bucket since the Unix epoch, in UTC: whole hours for time.Hour, UTC days
	// for 24*time.Hour) and by class. Results are ordered by provider, bucket
	// and class; combinations without attempts are absent. bucket must be a
	// positive whole number of seconds.
	//
	// With a bucket of whole hours, the UTC hours that ended StatsGrace or
	// more before until are counted once and their totals kept (a rollup), so
	// the cost of a call grows with the attempts of the last hour or so, not
	// with the whole period. An attempt recorded later with a time in such an
	// hour is not counted.
	CountAttempts(ctx context.Context, since, until time.Time, bucket time.Duration) ([]AttemptCount, error)
}

// StatsGrace is how long after a UTC hour ends its refresh attempts are
// taken as final: a refresh writes its history within its lease, which is
// far shorter.
const StatsGrace = 10 * time.Minute

// RollupRange returns the whole UTC hours [from, to) within [since, until)
// that ended StatsGrace or more before until: those CountAttempts counts
// from hourly totals. from >= to when there is none.
func RollupRange(since, until time.Time) (from, to time.Time) {
	from = since.UTC().Truncate(time.Hour)
	if from.Before(since) {
		from = from.Add(time.Hour)
	}
	to = until.Add(-StatsGrace).UTC().Truncate(time.Hour)
	return from, to
}

// Rebucket adds up counts by provider, class and bucket, the bucket being
// each count's Bucket truncated to a multiple of bucket since the Unix
// epoch, and returns them ordered by provider, bucket and class.
func Rebucket(counts []AttemptCount, bucket time.Duration) []AttemptCount {
	type key struct {
		provider string
		bucket   int64
		class    Class
	}
	sums := map[key]int{}
	for _, c := range counts {
		ms := c.Bucket.UnixMilli()
		width := bucket.Milliseconds()
		start := ms - ms%width
		if ms < 0 && ms%width != 0 {
			start -= width
		}
		sums[key{c.Provider, start, c.Class}] += c.Count
	}
	out := make([]AttemptCount, 0, len(sums))
	for k, n := range sums {
		if n > 0 {
			out = append(out, AttemptCount{Provider: k.provider, Bucket: time.UnixMilli(k.bucket).UTC(), Class: k.class, Count: n})
		}
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.Provider != b.Provider {
			return a.Provider < b.Provider
		}
		if !a.Bucket.Equal(b.Bucket) {
			return a.Bucket.Before(b.Bucket)
		}
		return a.Class < b.Class
	})
	return out
}

// ExpiringCount is the number of connected connections of one provider whose
// access token expires at or before Before.
type ExpiringCount struct {
	Provider string
	// Before is the cutoff exactly as passed to CountExpiring.
	Before time.Time
	Count  int
}

// AttemptCount is the number of refresh attempts of one provider's
// connections in one time bucket with one outcome class.
type AttemptCount struct {
	Provider string
	// Bucket is the start of the period, in UTC.
	Bucket time.Time
	Class  Class
	Count  int
}

// ValidBucket returns an INVALID_REQUEST error unless d is a positive whole
// number of seconds, as CountAttempts requires.
func ValidBucket(d time.Duration) error {
	if d < time.Second || d%time.Second != 0 {
		return Errorf(CodeInvalidRequest, "a statistics bucket must be a positive whole number of seconds, not %s", d)
	}
	return nil
}

// ProviderOverview summarises one provider at one moment: what the admin
// page's overview cards and `connections list --overview` show.
type ProviderOverview struct {
	Provider string
	// ByStatus counts the provider's connections in each status (absent: 0).
	ByStatus map[Status]int
	// Total counts its connections in every status.
	Total int
	// Expiring1h and Expiring24h count connected connections whose access
	// token expires within an hour and within a day (already expired included).
	Expiring1h, Expiring24h int
	// Attempts24h counts the refresh attempts of the last 24 hours, Failed24h
	// those of them that did not succeed, by class.
	Attempts24h int
	Failed24h   map[Class]int
}

// SuccessRate24h returns the share of the last 24 hours' attempts that
// succeeded, in [0,1], and false when there were none.
func (o ProviderOverview) SuccessRate24h() (float64, bool) {
	if o.Attempts24h == 0 {
		return 0, false
	}
	failed := 0
	for _, n := range o.Failed24h {
		failed += n
	}
	return float64(o.Attempts24h-failed) / float64(o.Attempts24h), true
}

// LoadOverview reads the overview of every provider that has connections or
// recent attempts, sorted by provider name, as of now.
func LoadOverview(ctx context.Context, s Store, stats StatsStore, now time.Time) ([]ProviderOverview, error) {
	counts, err := s.CountConnections(ctx)
	if err != nil {
		return nil, fmt.Errorf("load overview: %w", err)
	}
	expiring, err := stats.CountExpiring(ctx, []time.Time{now.Add(time.Hour), now.Add(24 * time.Hour)})
	if err != nil {
		return nil, fmt.Errorf("load overview: %w", err)
	}
	attempts, err := stats.CountAttempts(ctx, now.Add(-24*time.Hour), now, time.Hour)
	if err != nil {
		return nil, fmt.Errorf("load overview: %w", err)
	}
	byName := map[string]*ProviderOverview{}
	get := func(name string) *ProviderOverview {
		o, ok := byName[name]
		if !ok {
			o = &ProviderOverview{Provider: name, ByStatus: map[Status]int{}, Failed24h: map[Class]int{}}
			byName[name] = o
		}
		return o
	}
	for _, c := range counts {
		o := get(c.Provider)
		o.ByStatus[c.Status] += c.Count
		o.Total += c.Count
	}
	hour := now.Add(time.Hour)
	for _, e := range expiring {
		o := get(e.Provider)
		if e.Before.Equal(hour) {
			o.Expiring1h = e.Count
		} else {
			o.Expiring24h = e.Count
		}
	}
	for _, a := range attempts {
		o := get(a.Provider)
		o.Attempts24h += a.Count
		if a.Class != ClassSuccess {
			o.Failed24h[a.Class] += a.Count
		}
	}
	names := make([]string, 0, len(byName))
	for name := range byName {
		names = append(names, name)
	}
	sort.Strings(names)
	out := make([]ProviderOverview, 0, len(names))
	for _, name := range names {
		out = append(out, *byName[name])
	}
	return out, nil
}

// OverviewTotals adds the overviews of several providers into one, named "".
func OverviewTotals(overviews []ProviderOverview) ProviderOverview {
	t := ProviderOverview{ByStatus: map[Status]int{}, Failed24h: map[Class]int{}}
	for _, o := range overviews {
		for st, n := range o.ByStatus {
			t.ByStatus[st] += n
		}
		for c, n := range o.Failed24h {
			t.Failed24h[c] += n
		}
		t.Total += o.Total
		t.Expiring1h += o.Expiring1h
		t.Expiring24h += o.Expiring24h
		t.Attempts24h += o.Attempts24h
	}
	return t
}
