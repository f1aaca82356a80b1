package e2e

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/tokenkeeper/tokenkeeper"
	"github.com/tokenkeeper/tokenkeeper/internal/providertest"
)

// TestRefreshThroughput measures how many refreshes per second 1 and 3
// replicas on one PostgreSQL database get through when thousands of
// connections are due at once, against the in-process fake provider
// (rotating, with reuse detection): answering at once, where CPU and the
// database bound a replica, and answering after 100 ms, where its workers
// do. It runs only with TOKENKEEPER_E2E_BENCH=1
// (TOKENKEEPER_E2E_BENCH_CONNS sets the number of connections, default
// 5000) and logs a Markdown table; it asserts nothing about speed, only that
// each due connection was refreshed exactly once per run.
func TestRefreshThroughput(t *testing.T) {
	if os.Getenv("TOKENKEEPER_E2E_BENCH") != "1" {
		t.Skip("set TOKENKEEPER_E2E_BENCH=1 to measure refresh throughput")
	}
	n := 5000
	if v, err := strconv.Atoi(os.Getenv("TOKENKEEPER_E2E_BENCH_CONNS")); err == nil && v > 0 {
		n = v
	}
	ctx := t.Context()
	ps := providertest.New(providertest.Options{Rotate: true, ReuseDetection: true, AccessTokenTTL: time.Hour})
	defer ps.Close()
	c := newCluster(t, map[string]*tokenkeeper.Provider{"fake": ps.Provider("fake")}, map[string]string{
		"TOKENKEEPER_PROVIDER_RATE_LIMIT": "0", // unlimited: measure tokenkeeper, not its limiter
		"TOKENKEEPER_POLL_INTERVAL":       "100ms",
		"TOKENKEEPER_LOG_LEVEL":           "warn",
		"TOKENKEEPER_API_RATE_LIMIT":      "0",
	})
	loader := c.startReplicas(1, nil)
	a := newAPI(c.apiKey("admin"))
	defer a.close()
	toks := make([]*oauth2.Token, n)
	for i := range toks {
		g := ps.Grant("read")
		toks[i] = &oauth2.Token{AccessToken: g.AccessToken.Reveal(), RefreshToken: g.RefreshToken.Reveal(), Expiry: g.ExpiresAt}
	}
	began := time.Now()
	if _, err := importAll(ctx, a, loader, "fake", toks, 32); err != nil {
		t.Fatal(err)
	}
	t.Logf("imported %d connections in %v", n, time.Since(began).Round(time.Millisecond))
	loader[0].Stop()
	if _, err := c.db.Exec(ctx, `VACUUM ANALYZE connections`); err != nil {
		t.Fatal(err)
	}
	var freshBytes int64
	if err := c.db.QueryRow(ctx, `SELECT pg_total_relation_size('connections')`).Scan(&freshBytes); err != nil {
		t.Fatal(err)
	}

	dbURL := c.env["TOKENKEEPER_DATABASE_URL"]
	// Each replica's pool stays small enough that three of them fit in a
	// default PostgreSQL (max_connections 100) next to other clients. The
	// runs with provider latency make fewer connections due: they measure
	// how concurrency, not CPU, bounds a replica.
	runs := []struct {
		replicas, workers, pool int
		latency                 time.Duration
		due                     int
	}{
		{1, 8, 0, 0, n}, {3, 8, 0, 0, n},
		{1, 32, 16, 0, n}, {3, 32, 16, 0, n},
		{1, 8, 0, 100 * time.Millisecond, min(n, 1200)}, {3, 8, 0, 100 * time.Millisecond, min(n, 1200)},
		{1, 32, 16, 100 * time.Millisecond, min(n, 2000)}, {3, 32, 16, 100 * time.Millisecond, min(n, 2000)},
	}
	var table strings.Builder
	table.WriteString("| replicas | workers each | pool_max_conns each | provider latency | refreshes | seconds | refreshes/s | tokenkeeper CPU ms per refresh |\n| --- | --- | --- | --- | --- | --- | --- | --- |\n")
	total := 0
	for _, run := range runs {
		extra := map[string]string{"TOKENKEEPER_WORKERS": strconv.Itoa(run.workers)}
		pool := "default"
		if run.pool > 0 {
			extra["TOKENKEEPER_DATABASE_URL"] = dbURL + "&pool_max_conns=" + strconv.Itoa(run.pool)
			pool = strconv.Itoa(run.pool)
		}
		if run.latency > 0 {
			ps.FailAll(providertest.Response{Delay: run.latency}) // status 0: answered normally, late
		}
		rs := c.startReplicas(run.replicas, extra)
		before := ps.Refreshes()
		cpu0 := make([]time.Duration, len(rs))
		for i, r := range rs {
			cpu0[i] = cpuTime(r.PID())
		}
		elapsed := c.refreshNow(ctx, t, run.due)
		var cpu time.Duration
		for i, r := range rs {
			cpu += cpuTime(r.PID()) - cpu0[i]
			r.Stop()
		}
		ps.Heal()
		total += run.due
		if got := ps.Refreshes() - before; got != run.due || ps.Reuses() != 0 {
			t.Errorf("run %+v: provider saw %d refreshes for %d due connections, %d reuses", run, got, run.due, ps.Reuses())
		}
		rate := float64(run.due) / elapsed.Seconds()
		perRefresh := float64(cpu) / float64(time.Millisecond) / float64(run.due)
		fmt.Fprintf(&table, "| %d | %d | %s | %v | %d | %.2f | %.0f | %.2f |\n", run.replicas, run.workers, pool, run.latency, run.due, elapsed.Seconds(), rate, perRefresh)
		t.Logf("%d replica(s), %d workers, pool %s, provider latency %v: %d refreshes in %v: %.0f/s", run.replicas, run.workers, pool, run.latency, run.due, elapsed.Round(time.Millisecond), rate)
	}
	var connBytes, historyBytes int64
	if err := c.db.QueryRow(ctx, `SELECT pg_total_relation_size('connections'), pg_total_relation_size('refresh_attempts')`).Scan(&connBytes, &historyBytes); err != nil {
		t.Fatal(err)
	}
	t.Logf("results (%d CPUs):\n%s\nconnections table with its indexes: %d bytes/row after import, %d after the runs (dead row versions included); refresh history: %d bytes/attempt",
		runtime.NumCPU(), table.String(), freshBytes/int64(n), connBytes/int64(n), historyBytes/int64(total))
}

// refreshNow makes due connections due at once (the first by id) and
// returns how long the running replicas take until all of them have been
// refreshed.
func (c *cluster) refreshNow(ctx context.Context, t *testing.T, due int) time.Duration {
	t.Helper()
	start := time.Now()
	if _, err := c.db.Exec(ctx, `UPDATE connections SET next_refresh_at = $1
		WHERE id IN (SELECT id FROM connections ORDER BY id LIMIT $2)`, start.Add(-time.Second), due); err != nil {
		t.Fatal(err)
	}
	poll := time.NewTicker(20 * time.Millisecond)
	defer poll.Stop()
	for {
		var done int
		if err := c.db.QueryRow(ctx, `SELECT count(*) FROM connections WHERE last_refreshed_at >= $1`, start.Truncate(time.Millisecond)).Scan(&done); err != nil {
			t.Fatal(err)
		}
		if done >= due {
			return time.Since(start)
		}
		if time.Since(start) > 5*time.Minute {
			t.Fatalf("%d of %d refreshed after 5 minutes", done, due)
		}
		<-poll.C
	}
}
