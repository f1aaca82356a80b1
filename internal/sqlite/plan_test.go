package sqlite

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tokenkeeper/tokenkeeper/internal/storetest"
)

// queryPlan returns the detail lines of EXPLAIN QUERY PLAN for q.
func queryPlan(t *testing.T, s *Store, q string, args ...any) []string {
	t.Helper()
	rows, err := s.r.QueryContext(t.Context(), "EXPLAIN QUERY PLAN "+q, args...)
	if err != nil {
		t.Fatalf("EXPLAIN QUERY PLAN: %v", err)
	}
	defer rows.Close()
	var lines []string
	for rows.Next() {
		var id, parent, unused int
		var detail string
		if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
			t.Fatal(err)
		}
		lines = append(lines, detail)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return lines
}

// TestSchedulePlans proves that the claim and NextDue read the partial index
// connections_due, searched by next_refresh_at, and reach the rows to update
// by rowid, with no table scan and no sort: their cost follows the due rows,
// not the rows stored. It checks the plans without statistics and after
// ANALYZE. (With a provider filter and no INDEXED BY, SQLite picks the
// (provider, status) index and sorts; on a table of a few dozen rows with
// statistics, an UPDATE ... WHERE id IN (...) scans the table.)
func TestSchedulePlans(t *testing.T) {
	t.Parallel()
	s := setup(t)
	now := storetest.BaseTime()
	insertBulk(t, s, 1000, 100, now)
	claim := func(providers ...string) (string, []any) {
		return claimQuery("me", now, now.Add(time.Minute), 10, providers)
	}
	const dueRange = "SEARCH connections USING INDEX connections_due (next_refresh_at>? AND next_refresh_at<?)"
	const byRowid = "SEARCH connections USING INTEGER PRIMARY KEY (rowid=?)"
	tests := []struct {
		name string
		q    string
		args []any
		want []string
	}{
		{name: "claim", want: []string{byRowid, dueRange}},
		{name: "claim with providers", want: []string{byRowid, dueRange}},
		{name: "next due", q: nextDueQuery, want: []string{"SEARCH connections USING INDEX connections_due (next_refresh_at>?)"}},
	}
	tests[0].q, tests[0].args = claim()
	tests[1].q, tests[1].args = claim("acme", "globex")
	for _, stats := range []string{"without statistics", "after ANALYZE"} {
		if stats == "after ANALYZE" {
			if _, err := s.w.ExecContext(t.Context(), "ANALYZE"); err != nil {
				t.Fatal(err)
			}
		}
		for _, tt := range tests {
			t.Run(stats+"/"+tt.name, func(t *testing.T) {
				plan := queryPlan(t, s, tt.q, tt.args...)
				text := strings.Join(plan, "\n")
				for _, want := range tt.want {
					if !slices.Contains(plan, want) {
						t.Errorf("plan lacks %q:\n%s", want, text)
					}
				}
				for _, line := range plan {
					if strings.HasPrefix(line, "SCAN") || strings.Contains(line, "TEMP B-TREE") {
						t.Errorf("plan scans or sorts (%q):\n%s", line, text)
					}
				}
			})
		}
	}
}
