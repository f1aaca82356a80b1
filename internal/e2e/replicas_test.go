package e2e

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/tokenkeeper/tokenkeeper"
	"github.com/tokenkeeper/tokenkeeper/internal/oidctest"
)

// The issue 5 scenario's sizes and timings. Tokens live 20 s, so the
// scheduler refreshes each one 4 to 4.4 s before it expires (a fifth of
// the lifetime, moved earlier by up to a tenth of that as jitter) and every
// connection rotates about every 16 s. Half the readers ask for 4.2 s of
// validity, so reads refresh too, racing the scheduler across replicas:
// each reaches about half of the refreshes first.
// A dead replica's leases expire after 9 s (a refresh of two 2 s attempts,
// a pause between them and its writes fits in one), and the provider accepts
// a rotated refresh token for 15 s, longer than a lease plus a scheduler poll: a
// refresh whose answer died with its replica is redone with the same token
// inside the grace period instead of tripping reuse detection.
const (
	replicaConns       = 200
	replicaReaders     = 100
	replicaReadRate    = 1500 // reads per second, all callers together
	replicaTokenTTL    = 20 * time.Second
	replicaGrace       = 15 * time.Second
	replicaMinValidity = 4200 * time.Millisecond
	replicaRefreshes   = 2 // each connection at least
	replicaDeadline    = 75 * time.Second
)

// TestReplicasRefreshEachRotationOnce is issue 5's check: three serve
// processes on one PostgreSQL schema and an oidc-provider whose client
// rotates refresh tokens with reuse detection; 200 connections whose
// tokens expire within the test, 100 concurrent token readers spread over
// the replicas, and one replica killed with SIGKILL the moment it takes a
// refresh lease, then restarted. It runs until every connection was
// refreshed at least twice, then checks that every connection is
// connected, every grant is alive at the provider, reuse detection never
// fired, every refresh the provider saw succeeded, and each was committed
// by exactly one replica:
// the provider's successes equal the refreshes recorded in the database
// plus the grace-period uses, which only the refreshes cut short by the
// kill (or by a timeout, on a loaded machine) may cause.
func TestReplicasRefreshEachRotationOnce(t *testing.T) {
	t.Parallel()
	start := time.Now()
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	as := oidctest.Start(t, oidctest.Options{AccessTokenTTL: replicaTokenTTL, RotationGrace: replicaGrace, StrictClientAuth: true})
	const client, name = oidctest.RotatingBasic, "oidc"
	c := newCluster(t, map[string]*tokenkeeper.Provider{name: as.Provider(name, client)}, map[string]string{
		"TOKENKEEPER_LEASE_TTL":       "9s",
		"TOKENKEEPER_REQUEST_TIMEOUT": "2s",
		"TOKENKEEPER_POLL_INTERVAL":   "1s",
		"TOKENKEEPER_READ_COOLDOWN":   "5s",
		"TOKENKEEPER_BACKOFF_BASE":    "1s", // a retry after a timeout comes inside the grace period
		"TOKENKEEPER_BACKOFF_MAX":     "4s",
		"TOKENKEEPER_API_RATE_LIMIT":  "0", // the callers are one application, reading as fast as they like
	})
	rs := c.startReplicas(3, nil)
	a := newAPI(c.apiKey("admin"))
	defer a.close()

	granting := time.Now()
	toks := grantAll(t, as, client, replicaConns, 16)
	t.Logf("%d grants in %v", len(toks), time.Since(granting).Round(time.Millisecond))
	ids, err := importAll(ctx, a, rs, name, toks, 16)
	if err != nil {
		t.Fatal(err)
	}
	imported := time.Now()
	t.Logf("imported %d connections at %v", len(ids), imported.Sub(start).Round(time.Millisecond))

	watch, stopWatch := context.WithTimeout(ctx, replicaDeadline/2)
	defer stopWatch()
	leases, err := c.watchLeases(watch)
	if err != nil {
		t.Fatal(err)
	}
	rd := startReaders(a, rs, ids, replicaReaders, replicaReadRate, 0, replicaMinValidity)
	defer rd.Stop()

	// Kill replica b the moment it takes a refresh lease: a refresh cut short.
	orphaned, kills := c.killAtLease(ctx, rs[1], leases)
	if len(orphaned) == 0 {
		t.Fatalf("replica b was killed %d times, never while holding a refresh lease", kills)
	}
	t.Logf("killed replica b %d time(s), at %v the last, holding %d leases; restarted", kills, time.Since(imported).Round(time.Millisecond), len(orphaned))
	stopWatch()

	// Run until every connection has been refreshed at least twice.
	c.waitRefreshed(ctx, ids, replicaRefreshes, imported.Add(replicaDeadline))
	outcomes, expired := rd.Stop()
	p50, p99, longest := rd.latency()
	t.Logf("every connection refreshed ≥ %d times at %v; reads: %s; latency p50 %v, p99 %v, max %v", replicaRefreshes,
		time.Since(imported).Round(time.Millisecond), summary(outcomes), p50, p99, longest.Round(time.Millisecond))
	if expired > 0 {
		t.Errorf("%d reads were answered with an expired token", expired)
	}
	for k, n := range outcomes {
		switch {
		case k == droppedThenAnswered || k == droppedByLiveReplica:
			// serve's write deadline leaves room for a read that waits for
			// a dead replica's lease: no read may go unanswered.
			t.Errorf("%d reads: %s", n, k)
		case k != "200" && !strings.HasPrefix(k, "503 "):
			t.Errorf("%d reads answered %s", n, k)
		}
	}

	// Every connection is connected and its grant alive at the provider.
	var latest []string
	for _, id := range ids {
		conn, err := a.connection(ctx, rs[0].URL(), id)
		if err != nil {
			t.Fatal(err)
		}
		if conn.Status != "connected" || conn.ConsecutiveFailures != 0 {
			t.Errorf("connection %s: %s, %d failures, last error %+v", id, conn.Status, conn.ConsecutiveFailures, conn.LastError)
		}
		tv, status, code, _, err := a.token(ctx, rs[0].URL(), id, 0)
		if err != nil || status != 200 {
			t.Fatalf("final token of %s: %d %s %v", id, status, code, err)
		}
		if !as.Active(t, client, tv.AccessToken) {
			t.Errorf("connection %s: the grant is not alive at the provider", id)
		}
		latest = append(latest, tv.AccessToken)
	}
	for _, r := range rs {
		r.Stop()
	}

	// Exactly one refresh per rotation, counted at the provider.
	ps := as.Stats(t)
	st, err := c.refreshStats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("provider: %d refresh requests, %d successes, %d grace uses, %d reuse detections, %d invalid_grant; database: %d refreshes committed (%v), %d failed attempts (%d unanswered)",
		ps.RefreshRequestsByClient[client], ps.RefreshSuccessesByClient[client], ps.GraceUses, ps.ReuseDetections, ps.InvalidGrant, st.Total, st.ByTrigger, st.Failed, st.Unanswered)
	if ps.ReuseDetections != 0 || ps.InvalidGrant != 0 {
		t.Errorf("reuse detections %d, invalid_grant %d: a refresh token was used twice", ps.ReuseDetections, ps.InvalidGrant)
	}
	if ps.RefreshRequestsByClient[client] != ps.RefreshSuccessesByClient[client] {
		t.Errorf("provider saw %d refresh requests but %d successes", ps.RefreshRequestsByClient[client], ps.RefreshSuccessesByClient[client])
	}
	if got, want := ps.RefreshSuccessesByClient[client], st.Total+ps.GraceUses; got != want {
		t.Errorf("provider answered %d refreshes, database committed %d + %d grace uses", got, st.Total, ps.GraceUses)
	}
	if ps.GraceUses > len(orphaned)+st.Unanswered {
		t.Errorf("%d grace uses, more than the %d refreshes the kill cut short and the %d that timed out", ps.GraceUses, len(orphaned), st.Unanswered)
	}
	if counts, err := c.statusCounts(ctx); err != nil || counts["connected"] != len(ids) {
		t.Errorf("statuses %v (%v), want %d connected", counts, err, len(ids))
	}
	t.Logf("refresh attempts logged by replica: %v", c.refreshesLogged())
	assertNoTokensInLogs(t, c, toks, latest)
	t.Logf("total %v", time.Since(start).Round(time.Millisecond))
}

// assertNoTokensInLogs fails when any token appears in a process log.
func assertNoTokensInLogs(t *testing.T, c *cluster, toks []*oauth2.Token, latest []string) {
	t.Helper()
	logs := c.logs()
	secrets := slices.Clone(latest)
	for _, tok := range toks {
		secrets = append(secrets, tok.AccessToken, tok.RefreshToken)
	}
	for _, s := range secrets {
		if s != "" && strings.Contains(logs, s) {
			t.Errorf("a token appears in the replicas' logs")
			return
		}
	}
}
