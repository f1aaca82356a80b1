package storetest

import (
	"cmp"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/tokenkeeper/tokenkeeper"
)

var listTests = map[string]func(*testing.T, OpenFunc){
	"Filters":      testListFilters,
	"Pages":        testListPages,
	"DefaultLimit": testListDefaultLimit,
	"Count":        testCount,
}

// listData stores a mix of users, providers, statuses and expiries and
// returns them.
func listData(f *fixture) []*tokenkeeper.Connection {
	var all []*tokenkeeper.Connection
	users := []string{"alice", "bob"}
	providers := []string{"acme", "globex", "initech"}
	i := 0
	for _, u := range users {
		for _, p := range providers {
			for _, st := range tokenkeeper.Statuses {
				i++
				expires := f.now.Add(time.Duration(i) * time.Minute)
				c := f.create(withUser(u), withProvider(p), withStatus(st), func(c *tokenkeeper.Connection) {
					c.ExpiresAt = expires
					c.NextRefreshAt = expires.Add(-30 * time.Second)
					if i%7 == 0 {
						c.ExpiresAt = time.Time{} // unknown expiry: never "expiring"
					}
					if i%5 == 0 {
						c.NextRefreshAt = time.Time{} // never due
					}
				})
				all = append(all, c)
			}
		}
	}
	return all
}

// matches is the reference implementation of ConnectionFilter.
func matches(c *tokenkeeper.Connection, flt tokenkeeper.ConnectionFilter) bool {
	return (flt.UserID == "" || c.UserID == flt.UserID) &&
		(flt.Provider == "" || c.Provider == flt.Provider) &&
		(flt.Status == "" || c.Status == flt.Status) &&
		(flt.ExpiringBefore.IsZero() || (!c.ExpiresAt.IsZero() && !c.ExpiresAt.After(flt.ExpiringBefore))) &&
		(flt.DueBefore.IsZero() || (!c.NextRefreshAt.IsZero() && !c.NextRefreshAt.After(flt.DueBefore)))
}

func testListFilters(t *testing.T, open OpenFunc) {
	f := setup(t, open)
	all := listData(f)
	slices.SortFunc(all, func(a, b *tokenkeeper.Connection) int { return cmp.Compare(a.ID, b.ID) })
	tests := []tokenkeeper.ConnectionFilter{
		{},
		{UserID: "alice"},
		{UserID: "nobody"},
		{Provider: "globex"},
		{Status: tokenkeeper.StatusNeedsReauth},
		{UserID: "bob", Provider: "acme", Status: tokenkeeper.StatusConnected},
		// The bound is inclusive: the 10th connection expires exactly then.
		{ExpiringBefore: f.now.Add(10 * time.Minute)},
		{ExpiringBefore: f.now.Add(20 * time.Minute), Provider: "initech"},
		{ExpiringBefore: f.now},
		// Any status; the 12th connection is due exactly then.
		{DueBefore: f.now.Add(12*time.Minute - 30*time.Second)},
		{DueBefore: f.now.Add(time.Hour), Status: tokenkeeper.StatusConnected},
	}
	for _, flt := range tests {
		t.Run(fmt.Sprintf("%+v", flt), func(t *testing.T) {
			var want []*tokenkeeper.Connection
			for _, c := range all {
				if matches(c, flt) {
					want = append(want, c)
				}
			}
			got, next, err := f.s.ListConnections(t.Context(), flt)
			if err != nil {
				t.Fatalf("ListConnections: %v", err)
			}
			if next != "" {
				t.Errorf("next cursor = %q, want \"\" (everything fits one page)", next)
			}
			equal(t, "listed connections", want, got)
		})
	}
}

func testListPages(t *testing.T, open OpenFunc) {
	f := setup(t, open)
	var ids []string
	for range 25 {
		ids = append(ids, f.create(withUser("pager")).ID)
	}
	f.create(withUser("someone-else"))
	slices.Sort(ids)

	var got []string
	var sizes []int
	flt := tokenkeeper.ConnectionFilter{UserID: "pager", Limit: 10}
	for page := 0; ; page++ {
		if page > 5 {
			t.Fatalf("pagination does not end; pages so far %v", sizes)
		}
		cs, next, err := f.s.ListConnections(t.Context(), flt)
		if err != nil {
			t.Fatalf("ListConnections(page %d): %v", page, err)
		}
		sizes = append(sizes, len(cs))
		for _, c := range cs {
			got = append(got, c.ID)
		}
		if next == "" {
			break
		}
		if len(cs) == 0 || next != cs[len(cs)-1].ID {
			t.Fatalf("page %d: cursor %q is not the last id of the page", page, next)
		}
		flt.After = next
	}
	if !slices.Equal(sizes, []int{10, 10, 5}) {
		t.Errorf("page sizes = %v, want [10 10 5]", sizes)
	}
	if !slices.Equal(got, ids) {
		t.Errorf("pages did not return every connection once, in id order:\n got %v\nwant %v", got, ids)
	}

	// A last page that is exactly full has no next page either.
	flt = tokenkeeper.ConnectionFilter{UserID: "pager", Limit: 5, After: ids[14]}
	for page := range 2 {
		cs, next, err := f.s.ListConnections(t.Context(), flt)
		if err != nil {
			t.Fatalf("ListConnections: %v", err)
		}
		if len(cs) != 5 || (page == 0) != (next != "") {
			t.Fatalf("page %d of the last 10 by 5: %d connections, cursor %q; want 5, and a cursor only on the first", page, len(cs), next)
		}
		flt.After = next
	}
}

func testListDefaultLimit(t *testing.T, open OpenFunc) {
	f := setup(t, open)
	for range 101 {
		f.create()
	}
	cs, next, err := f.s.ListConnections(t.Context(), tokenkeeper.ConnectionFilter{})
	if err != nil {
		t.Fatalf("ListConnections: %v", err)
	}
	if len(cs) != 100 || next == "" {
		t.Fatalf("Limit 0 returned %d connections and cursor %q; want 100 and a cursor", len(cs), next)
	}
	rest, next, err := f.s.ListConnections(t.Context(), tokenkeeper.ConnectionFilter{After: next})
	if err != nil || len(rest) != 1 || next != "" {
		t.Fatalf("second page = %d connections, cursor %q, err %v; want 1, \"\", nil", len(rest), next, err)
	}
}

func testCount(t *testing.T, open OpenFunc) {
	f := setup(t, open)
	empty, err := f.s.CountConnections(t.Context())
	if err != nil || len(empty) != 0 {
		t.Fatalf("CountConnections on an empty store = %v, %v; want none", empty, err)
	}
	want := map[tokenkeeper.StatusCount]bool{}
	counts := map[[2]string]int{}
	for _, c := range listData(f) {
		counts[[2]string{c.Provider, string(c.Status)}]++
	}
	f.create(withProvider("acme"), withStatus(tokenkeeper.StatusConnected))
	counts[[2]string{"acme", string(tokenkeeper.StatusConnected)}]++
	for k, n := range counts {
		want[tokenkeeper.StatusCount{Provider: k[0], Status: tokenkeeper.Status(k[1]), Count: n}] = true
	}
	got, err := f.s.CountConnections(t.Context())
	if err != nil {
		t.Fatalf("CountConnections: %v", err)
	}
	if len(got) != len(want) {
		t.Errorf("CountConnections returned %d rows, want %d: %v", len(got), len(want), got)
	}
	for _, sc := range got {
		if !want[sc] {
			t.Errorf("unexpected count %+v", sc)
		}
	}
}
