package storetest

import (
	"fmt"
	"maps"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/tokenkeeper/tokenkeeper"
)

// StatsStore is a store under test that also answers statistics.
type StatsStore interface {
	tokenkeeper.Store
	tokenkeeper.StatsStore
}

// RunStats runs the conformance suite of tokenkeeper.StatsStore. open
// returns a fresh, migrated and empty store, like Run's.
func RunStats(t *testing.T, open func(t *testing.T) StatsStore) {
	for _, name := range slices.Sorted(maps.Keys(statsTests)) {
		test := statsTests[name]
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			test(t, open)
		})
	}
}

var statsTests = map[string]func(*testing.T, func(*testing.T) StatsStore){
	"ExpiringByProvider": testExpiringByProvider,
	"ExpiringNoCutoffs":  testExpiringNoCutoffs,
	"AttemptsByBucket":   testAttemptsByBucket,
	"RollupConcurrent":   testRollupConcurrent,
	"AttemptsBadBucket":  testAttemptsBadBucket,
	"Empty":              testStatsEmpty,
}

// statsFixture opens a store through open and checks it is empty.
func statsFixture(t *testing.T, open func(*testing.T) StatsStore) (*fixture, StatsStore) {
	t.Helper()
	s := open(t)
	return setup(t, func(*testing.T) tokenkeeper.Store { return s }), s
}

func withExpiry(at time.Time) func(*tokenkeeper.Connection) {
	return func(c *tokenkeeper.Connection) { c.ExpiresAt = at }
}

func testExpiringByProvider(t *testing.T, open func(*testing.T) StatsStore) {
	f, s := statsFixture(t, open)
	hour, day := f.now.Add(time.Hour), f.now.Add(24*time.Hour)
	f.create(withExpiry(f.now.Add(30 * time.Minute)))
	f.create(withExpiry(f.now.Add(-5 * time.Minute))) // already expired, still connected
	f.create(withExpiry(hour))                        // exactly at the cutoff: counted
	f.create(withExpiry(f.now.Add(2 * time.Hour)))
	f.create(withExpiry(f.now.Add(30 * time.Hour)))
	f.create(withExpiry(time.Time{})) // unknown expiry: never counted
	f.create(withExpiry(f.now.Add(10*time.Minute)), withStatus(tokenkeeper.StatusNeedsReauth))
	f.create(withExpiry(f.now.Add(10*time.Minute)), withStatus(tokenkeeper.StatusError))
	f.create(withExpiry(f.now.Add(20*time.Hour)), withProvider("globex"))
	f.create(withExpiry(f.now.Add(48*time.Hour)), withProvider("initech")) // beyond every cutoff: absent

	got, err := s.CountExpiring(t.Context(), []time.Time{hour, day})
	if err != nil {
		t.Fatalf("CountExpiring: %v", err)
	}
	want := []tokenkeeper.ExpiringCount{
		{Provider: "acme", Before: hour, Count: 3},
		{Provider: "acme", Before: day, Count: 4},
		{Provider: "globex", Before: hour, Count: 0},
		{Provider: "globex", Before: day, Count: 1},
	}
	equal(t, "expiring counts", want, got)
}

func testExpiringNoCutoffs(t *testing.T, open func(*testing.T) StatsStore) {
	f, s := statsFixture(t, open)
	f.create()
	got, err := s.CountExpiring(t.Context(), nil)
	if err != nil || len(got) != 0 {
		t.Errorf("CountExpiring(no cutoffs) = %v, %v; want nothing", got, err)
	}
}

// attemptFixture stores attempts over two days at two providers; f.now is
// midnight UTC.
func attemptFixture(t *testing.T, f *fixture) {
	t.Helper()
	acme, globex := f.create(), f.create(withProvider("globex"))
	acme2 := f.create()
	at := func(d time.Duration) time.Time { return f.now.Add(d) }
	var rows []tokenkeeper.RefreshAttempt
	add := func(c *tokenkeeper.Connection, when time.Time, class tokenkeeper.Class, n int) {
		for range n {
			rows = append(rows, attempt(c.ID, when, class))
		}
	}
	add(acme, at(-30*time.Minute), tokenkeeper.ClassSuccess, 5)                // before since: not counted
	add(acme, at(0), tokenkeeper.ClassSuccess, 2)                              // exactly since
	add(acme2, at(59*time.Minute+59*time.Second), tokenkeeper.ClassSuccess, 1) // same hour
	add(acme, at(20*time.Minute), tokenkeeper.ClassTransient, 3)               // same hour
	add(acme, at(2*time.Hour+time.Millisecond), tokenkeeper.ClassPermanent, 1) // hour 2
	add(acme2, at(25*time.Hour), tokenkeeper.ClassRevoked, 1)                  // next day, hour 1
	add(globex, at(23*time.Hour+59*time.Minute), tokenkeeper.ClassConfig, 2)   // day 0, hour 23
	add(globex, at(24*time.Hour), tokenkeeper.ClassSuccess, 4)                 // day 1, hour 0
	add(globex, at(47*time.Hour+50*time.Minute), tokenkeeper.ClassSuccess, 1)  // day 1, hour 23
	if err := f.s.AddAttempts(t.Context(), rows); err != nil {
		t.Fatalf("AddAttempts: %v", err)
	}
}

func testAttemptsByBucket(t *testing.T, open func(*testing.T) StatsStore) {
	ac := func(p string, b time.Duration, c tokenkeeper.Class, n int) tokenkeeper.AttemptCount {
		return tokenkeeper.AttemptCount{Provider: p, Bucket: BaseTime().Add(b), Class: c, Count: n}
	}
	h := time.Hour
	tests := []struct {
		name         string
		since, until time.Duration // from BaseTime
		bucket       time.Duration
		want         []tokenkeeper.AttemptCount
	}{
		{"hours", 0, 48 * h, h, []tokenkeeper.AttemptCount{
			ac("acme", 0, tokenkeeper.ClassSuccess, 3),
			ac("acme", 0, tokenkeeper.ClassTransient, 3),
			ac("acme", 2*h, tokenkeeper.ClassPermanent, 1),
			ac("acme", 25*h, tokenkeeper.ClassRevoked, 1),
			ac("globex", 23*h, tokenkeeper.ClassConfig, 2),
			ac("globex", 24*h, tokenkeeper.ClassSuccess, 4),
			ac("globex", 47*h, tokenkeeper.ClassSuccess, 1), // within the grace: counted from the rows
		}},
		{"days", 0, 48 * h, 24 * h, []tokenkeeper.AttemptCount{
			ac("acme", 0, tokenkeeper.ClassPermanent, 1),
			ac("acme", 0, tokenkeeper.ClassSuccess, 3),
			ac("acme", 0, tokenkeeper.ClassTransient, 3),
			ac("acme", 24*h, tokenkeeper.ClassRevoked, 1),
			ac("globex", 0, tokenkeeper.ClassConfig, 2),
			ac("globex", 24*h, tokenkeeper.ClassSuccess, 5),
		}},
		{"unaligned edges", 30 * time.Minute, 25*h + 30*time.Minute, h, []tokenkeeper.AttemptCount{
			ac("acme", 0, tokenkeeper.ClassSuccess, 1),
			ac("acme", 2*h, tokenkeeper.ClassPermanent, 1),
			ac("acme", 25*h, tokenkeeper.ClassRevoked, 1),
			ac("globex", 23*h, tokenkeeper.ClassConfig, 2),
			ac("globex", 24*h, tokenkeeper.ClassSuccess, 4),
		}},
		{"half hours, no rollup", 0, 3 * h, 30 * time.Minute, []tokenkeeper.AttemptCount{
			ac("acme", 0, tokenkeeper.ClassSuccess, 2),
			ac("acme", 0, tokenkeeper.ClassTransient, 3),
			ac("acme", 30*time.Minute, tokenkeeper.ClassSuccess, 1),
			ac("acme", 2*h, tokenkeeper.ClassPermanent, 1),
		}},
		{"until excluded", 0, 2 * h, h, []tokenkeeper.AttemptCount{
			ac("acme", 0, tokenkeeper.ClassSuccess, 3),
			ac("acme", 0, tokenkeeper.ClassTransient, 3),
		}},
		{"empty range", 5 * h, 5 * h, h, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f, s := statsFixture(t, open)
			attemptFixture(t, f)
			for i := range 2 { // the second call reads the rollup the first wrote
				got, err := s.CountAttempts(t.Context(), f.now.Add(tt.since), f.now.Add(tt.until), tt.bucket)
				if err != nil {
					t.Fatalf("CountAttempts: %v", err)
				}
				equal(t, fmt.Sprintf("attempt counts, call %d", i+1), tt.want, got)
			}
		})
	}
}

// testRollupConcurrent: callers that roll up the same hours at once count
// each attempt once, and attempts recorded later in hours not yet closed
// are counted by the next call.
func testRollupConcurrent(t *testing.T, open func(*testing.T) StatsStore) {
	f, s := statsFixture(t, open)
	attemptFixture(t, f)
	since, until := f.now, f.now.Add(48*time.Hour)
	want, err := s.CountAttempts(t.Context(), since, until, 24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	// Concurrent calls on a longer range roll up its new hours together.
	later := until.Add(6 * time.Hour)
	c := f.create()
	if err := f.s.AddAttempts(t.Context(), []tokenkeeper.RefreshAttempt{attempt(c.ID, until.Add(time.Hour), tokenkeeper.ClassSuccess)}); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	results := make([][]tokenkeeper.AttemptCount, 4)
	errs := make([]error, len(results))
	for i := range results {
		wg.Go(func() { results[i], errs[i] = s.CountAttempts(t.Context(), since, later, 24*time.Hour) })
	}
	wg.Wait()
	for i, r := range results {
		if errs[i] != nil {
			t.Fatalf("CountAttempts %d: %v", i, errs[i])
		}
		total := 0
		for _, ac := range r {
			total += ac.Count
		}
		wantTotal := 1
		for _, ac := range want {
			wantTotal += ac.Count
		}
		if total != wantTotal {
			t.Errorf("call %d counted %d attempts, want %d", i, total, wantTotal)
		}
	}
}

func testAttemptsBadBucket(t *testing.T, open func(*testing.T) StatsStore) {
	_, s := statsFixture(t, open)
	for _, b := range []time.Duration{0, -time.Hour, 1500 * time.Millisecond} {
		if _, err := s.CountAttempts(t.Context(), BaseTime(), BaseTime().Add(time.Hour), b); tokenkeeper.ErrorCode(err) != tokenkeeper.CodeInvalidRequest {
			t.Errorf("CountAttempts(bucket %s) = %v, want INVALID_REQUEST", b, err)
		}
	}
}

func testStatsEmpty(t *testing.T, open func(*testing.T) StatsStore) {
	f, s := statsFixture(t, open)
	exp, err := s.CountExpiring(t.Context(), []time.Time{f.now.Add(time.Hour)})
	if err != nil || len(exp) != 0 {
		t.Errorf("CountExpiring on an empty store = %v, %v; want nothing", exp, err)
	}
	att, err := s.CountAttempts(t.Context(), f.now.Add(-7*24*time.Hour), f.now, time.Hour)
	if err != nil || len(att) != 0 {
		t.Errorf("CountAttempts on an empty store = %v, %v; want nothing", att, err)
	}
}
