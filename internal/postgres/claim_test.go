package postgres

import (
	"context"
	"crypto/sha256"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// TestClaimDueReplicas runs three stores with pools of their own (three
// replicas) over one schema, four claimers each, against 2,000 due rows:
// every row is claimed exactly once, and the stored lease names its claimer.
func TestClaimDueReplicas(t *testing.T) {
	t.Parallel()
	const (
		rows     = 2000
		replicas = 3
		workers  = 4
		batch    = 25
	)
	url := newSchema(t)
	now := baseTime()
	var stores []*Store
	for range replicas {
		stores = append(stores, open(t, url, Options{MaxConns: workers}))
	}
	if err := stores[0].Migrate(t.Context()); err != nil {
		t.Fatalf("Migrate: %v", err)
	}
	insertConnections(t, stores[0], rows+500, rows, now, true)

	// Each claimer records what it got in a slice of its own; a claimer that
	// keeps getting rows after all of them could have been claimed stops.
	type claim struct{ id, owner string }
	results := make([][]claim, replicas*workers)
	errs := make([]error, replicas*workers)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for r, s := range stores {
		for w := range workers {
			i, owner := r*workers+w, fmt.Sprintf("replica-%d/worker-%d", r, w)
			wg.Go(func() {
				<-start
				for range rows/batch + 2 {
					got, err := s.ClaimDue(t.Context(), owner, now, now.Add(time.Minute), batch, nil)
					if err != nil || len(got) == 0 {
						errs[i] = err
						return
					}
					for _, c := range got {
						results[i] = append(results[i], claim{c.ID, owner})
					}
				}
				errs[i] = fmt.Errorf("%s still claiming after %d batches", owner, rows/batch+2)
			})
		}
	}
	close(start)
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Errorf("ClaimDue: %v", err)
		}
	}

	claimedBy := map[string]string{}
	for c := range slices.Values(slices.Concat(results...)) {
		if prev, dup := claimedBy[c.id]; dup {
			t.Errorf("%s claimed twice: by %s and %s", c.id, prev, c.owner)
		}
		claimedBy[c.id] = c.owner
	}
	if len(claimedBy) != rows {
		t.Errorf("claimed %d distinct rows, want %d", len(claimedBy), rows)
	}
	owners := map[string]bool{}
	for id, owner := range claimedBy {
		c, err := stores[1].GetConnection(t.Context(), id)
		if err != nil {
			t.Fatalf("GetConnection: %v", err)
		}
		if c.LeaseOwner != owner || !c.LeaseUntil.Equal(now.Add(time.Minute)) {
			t.Errorf("%s: stored lease %s until %s, want %s until %s", id, c.LeaseOwner, c.LeaseUntil, owner, now.Add(time.Minute))
		}
		owners[strings.Split(owner, "/")[0]] = true
	}
	t.Logf("rows spread over %d replicas", len(owners))
}

// TestSchedulePlans checks with EXPLAIN that the claim (with and without a
// provider filter) and NextDue read the partial index connections_due on a
// table where few rows are due, and never scan connections: their cost
// follows the due rows, not the rows stored. It checks the plans before and
// after ANALYZE, planned for the given values (custom) and, as pgx's
// statement cache may run them, for any values (generic).
func TestSchedulePlans(t *testing.T) {
	t.Parallel()
	s := setup(t)
	now := baseTime()
	insertConnections(t, s, 20000, 50, now, false)
	claimArgs := []any{"me", ts(now.Add(time.Minute)), ts(now), 25}
	const claimTypes = "text, timestamptz, timestamptz, int"
	tests := []struct {
		name  string
		sql   string
		types string
		args  []any
	}{
		{"claim", claimDueSQL(false), claimTypes, claimArgs},
		{"claim with providers", claimDueSQL(true), claimTypes + ", text[]", append(claimArgs, []string{"acme", "globex"})},
		{"next due", nextDueSQL, "", nil},
	}
	for _, stats := range []string{"without statistics", "after ANALYZE"} {
		if stats == "after ANALYZE" {
			if _, err := s.pool.Exec(t.Context(), `ANALYZE connections`); err != nil {
				t.Fatal(err)
			}
		}
		for _, tt := range tests {
			for _, generic := range []bool{false, true} {
				name := stats + "/" + tt.name + "/" + map[bool]string{false: "custom", true: "generic"}[generic]
				t.Run(name, func(t *testing.T) {
					plan := explain(t, s, generic, tt.sql, tt.types, tt.args...)
					if !strings.Contains(plan, " on connections_due ") && !strings.Contains(plan, "using connections_due ") {
						t.Errorf("the plan does not read the partial index connections_due:\n%s", plan)
					}
					if strings.Contains(plan, "Seq Scan") {
						t.Errorf("the plan scans a whole table:\n%s", plan)
					}
				})
			}
		}
	}
}

// explain returns the plan of sql for args: with generic, the plan
// PostgreSQL makes for any values of parameters of the given types.
func explain(t *testing.T, s *Store, generic bool, sql, types string, args ...any) string {
	t.Helper()
	conn, err := s.pool.Acquire(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Release()
	q := `EXPLAIN ` + sql
	if generic {
		// EXECUTE takes its arguments as literals: the simple protocol
		// interpolates them.
		args = append([]any{pgx.QueryExecModeSimpleProtocol}, args...)
		name := fmt.Sprintf("explain_%x", sha256.Sum256([]byte(t.Name())))[:40]
		prepare := `PREPARE ` + name + ` AS ` + sql
		if types != "" {
			prepare = `PREPARE ` + name + ` (` + types + `) AS ` + sql
		}
		for _, stmt := range []string{`SET plan_cache_mode = force_generic_plan`, prepare} {
			if _, err := conn.Exec(t.Context(), stmt); err != nil {
				t.Fatalf("%s: %v", stmt, err)
			}
		}
		defer conn.Exec(context.WithoutCancel(t.Context()), `DEALLOCATE `+name+`; RESET plan_cache_mode`)
		q = `EXPLAIN EXECUTE ` + name
		if len(args) > 1 {
			q += `(` + placeholders(len(args)-1) + `)`
		}
	}
	rows, err := conn.Query(t.Context(), q, args...)
	if err != nil {
		t.Fatalf("EXPLAIN: %v", err)
	}
	defer rows.Close()
	var lines []string
	for rows.Next() {
		var line string
		if err := rows.Scan(&line); err != nil {
			t.Fatalf("EXPLAIN: %v", err)
		}
		lines = append(lines, line)
	}
	if err := rows.Err(); err != nil {
		t.Fatalf("EXPLAIN: %v", err)
	}
	return strings.Join(lines, "\n")
}

// placeholders returns "$1, $2, …, $n".
func placeholders(n int) string {
	ps := make([]string, n)
	for i := range ps {
		ps[i] = fmt.Sprintf("$%d", i+1)
	}
	return strings.Join(ps, ", ")
}
