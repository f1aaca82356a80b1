package storetest

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/tokenkeeper/tokenkeeper"
)

var claimTests = map[string]func(*testing.T, OpenFunc){
	"OnlyDueConnectedFree": testClaimOnlyEligible,
	"OrderAndLimit":        testClaimOrderAndLimit,
	"Providers":            testClaimProviders,
	"ReclaimAfterExpiry":   testClaimReclaim,
	"ConcurrentClaimers":   testClaimConcurrent,
	"NextDue":              testNextDue,
}

func ids(cs []*tokenkeeper.Connection) []string {
	out := make([]string, len(cs))
	for i, c := range cs {
		out[i] = c.ID
	}
	return out
}

// claim calls ClaimDue and checks that every returned connection carries the
// new lease.
func (f *fixture) claim(owner string, now, until time.Time, limit int, providers ...string) []*tokenkeeper.Connection {
	f.t.Helper()
	cs, err := f.s.ClaimDue(f.t.Context(), owner, now, until, limit, providers)
	if err != nil {
		f.t.Fatalf("ClaimDue: %v", err)
	}
	for _, c := range cs {
		if c.LeaseOwner != owner || !c.LeaseUntil.Equal(until) {
			f.t.Errorf("claimed %s has lease %q until %s, want %q until %s", c.ID, c.LeaseOwner, fmtTime(c.LeaseUntil), owner, fmtTime(until))
		}
	}
	return cs
}

func testClaimOnlyEligible(t *testing.T, open OpenFunc) {
	f := setup(t, open)
	now := f.now
	due := withNext(now.Add(-time.Minute))
	var want []string
	want = append(want, f.create(due).ID)
	want = append(want, f.create(withNext(now)).ID) // due exactly now
	expired := f.create(due)
	f.acquire(expired.ID, "crashed", now.Add(-time.Hour), now.Add(-time.Second))
	want = append(want, expired.ID)

	held := f.create(due)
	f.acquire(held.ID, "other", now, now.Add(time.Minute))
	f.create(withNext(now.Add(time.Millisecond))) // not yet due
	f.create(withNext(time.Time{}))               // never
	for _, st := range tokenkeeper.Statuses[1:] { // every status but connected
		f.create(due, withStatus(st))
	}

	until := now.Add(30 * time.Second)
	got := f.claim("me", now, until, 100)
	gotIDs := ids(got)
	slices.Sort(gotIDs)
	slices.Sort(want)
	if !slices.Equal(gotIDs, want) {
		t.Fatalf("claimed %v, want %v", gotIDs, want)
	}
	for _, c := range got {
		stored := f.get(c.ID)
		equal(t, "claimed connection vs stored", stored, c)
		if stored.Version != 1 {
			t.Errorf("claim changed Version of %s to %d", c.ID, stored.Version)
		}
	}
	if again := f.claim("other", now, until, 100); len(again) != 0 {
		t.Errorf("claimed rows were claimed again while leased: %v", ids(again))
	}
}

func testClaimOrderAndLimit(t *testing.T, open OpenFunc) {
	f := setup(t, open)
	// Created in random order; want is ordered by next_refresh_at.
	want := make([]string, 10)
	for _, o := range rand.Perm(10) {
		want[o] = f.create(withNext(f.now.Add(-time.Duration(10-o) * time.Minute))).ID
	}
	until := f.now.Add(time.Minute)
	first := f.claim("me", f.now, until, 4)
	second := f.claim("me", f.now, until, 4)
	third := f.claim("me", f.now, until, 4)
	if got := ids(first); !slices.Equal(got, want[:4]) {
		t.Errorf("first claim = %v, want %v", got, want[:4])
	}
	if got := ids(second); !slices.Equal(got, want[4:8]) {
		t.Errorf("second claim = %v, want %v", got, want[4:8])
	}
	if got := ids(third); !slices.Equal(got, want[8:]) {
		t.Errorf("third claim = %v, want %v", got, want[8:])
	}
}

func testClaimProviders(t *testing.T, open OpenFunc) {
	f := setup(t, open)
	due := withNext(f.now.Add(-time.Minute))
	want := map[string]bool{}
	for _, p := range []string{"acme", "globex", "initech", "acme", "initech"} {
		c := f.create(due, withProvider(p))
		if p != "globex" {
			want[c.ID] = true
		}
	}
	got := f.claim("me", f.now, f.now.Add(time.Minute), 100, "acme", "initech", "unknown")
	if len(got) != len(want) {
		t.Errorf("claimed %d connections, want %d", len(got), len(want))
	}
	for _, c := range got {
		if !want[c.ID] {
			t.Errorf("claimed %s of provider %s, outside the filter", c.ID, c.Provider)
		}
	}
	if rest := f.claim("me", f.now, f.now.Add(time.Minute), 100); len(rest) != 1 || rest[0].Provider != "globex" {
		t.Errorf("claim without filter = %v, want the one globex connection", ids(rest))
	}
}

func testClaimReclaim(t *testing.T, open OpenFunc) {
	f := setup(t, open)
	c := f.create(withNext(f.now))
	until := f.now.Add(30 * time.Second)
	if got := f.claim("a", f.now, until, 10); len(got) != 1 {
		t.Fatalf("first claim got %d, want 1", len(got))
	}
	if got := f.claim("b", until, until.Add(time.Minute), 10); len(got) != 0 {
		t.Errorf("claim at the lease's expiry instant got %v, want none", ids(got))
	}
	later := until.Add(time.Millisecond)
	got := f.claim("b", later, later.Add(time.Minute), 10)
	if len(got) != 1 || got[0].ID != c.ID {
		t.Errorf("claim after the lease expired = %v, want [%s]", ids(got), c.ID)
	}
}

func testClaimConcurrent(t *testing.T, open OpenFunc) {
	f := setup(t, open)
	const rows, claimers, batch = 500, 8, 7
	for i := range rows {
		f.create(withNext(f.now.Add(-time.Duration(i) * time.Second)))
	}
	f.create(withNext(f.now.Add(time.Hour))) // not due
	claimed := make([][]string, claimers)
	errs := make([]error, claimers)
	var wg sync.WaitGroup
	for w := range claimers {
		owner := fmt.Sprintf("worker-%d", w)
		wg.Go(func() {
			for {
				cs, err := f.s.ClaimDue(t.Context(), owner, f.now, f.now.Add(time.Minute), batch, nil)
				if err != nil {
					errs[w] = err
					return
				}
				if len(cs) == 0 {
					return
				}
				for _, c := range cs {
					if c.LeaseOwner != owner {
						errs[w] = fmt.Errorf("claimed %s with lease owner %q", c.ID, c.LeaseOwner)
						return
					}
				}
				claimed[w] = append(claimed[w], ids(cs)...)
			}
		})
	}
	wg.Wait()
	seen := map[string]string{}
	for w, list := range claimed {
		if errs[w] != nil {
			t.Errorf("worker %d: %v", w, errs[w])
		}
		for _, id := range list {
			if prev, dup := seen[id]; dup {
				t.Errorf("%s claimed twice (worker-%d and %s)", id, w, prev)
			}
			seen[id] = fmt.Sprintf("worker-%d", w)
		}
	}
	if len(seen) != rows {
		t.Errorf("%d distinct rows claimed, want %d", len(seen), rows)
	}
	for id, owner := range seen {
		if got, _ := f.leaseOf(id); got != owner {
			t.Errorf("stored lease owner of %s = %q, want %q", id, got, owner)
			break
		}
	}
}

func testNextDue(t *testing.T, open OpenFunc) {
	f := setup(t, open)
	next := func() (time.Time, bool) {
		t.Helper()
		at, ok, err := f.s.NextDue(t.Context())
		if err != nil {
			t.Fatalf("NextDue: %v", err)
		}
		return at, ok
	}
	if at, ok := next(); ok {
		t.Fatalf("NextDue on an empty store = %s, true; want false", fmtTime(at))
	}
	f.create(withNext(time.Time{}))
	f.create(withNext(f.now.Add(-time.Hour)), withStatus(tokenkeeper.StatusNeedsReauth))
	if at, ok := next(); ok {
		t.Fatalf("NextDue without refreshable connections = %s, true; want false", fmtTime(at))
	}
	want := f.now.Add(5 * time.Minute)
	f.create(withNext(f.now.Add(10 * time.Minute)))
	f.create(withNext(want))
	leased := f.create(withNext(f.now.Add(time.Minute)))
	f.acquire(leased.ID, "a", f.now, f.now.Add(time.Minute))
	if at, ok := next(); !ok || !at.Equal(want) {
		t.Errorf("NextDue = %s, %t; want %s (the leased connection skipped)", fmtTime(at), ok, fmtTime(want))
	}
	if err := f.s.ReleaseLease(t.Context(), leased.ID, "a"); err != nil {
		t.Fatalf("ReleaseLease: %v", err)
	}
	if at, ok := next(); !ok || !at.Equal(f.now.Add(time.Minute)) {
		t.Errorf("NextDue after release = %s, %t; want %s", fmtTime(at), ok, fmtTime(f.now.Add(time.Minute)))
	}
}
