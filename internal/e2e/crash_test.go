package e2e

import (
	"context"
	"math/rand/v2"
	"net/http"
	"testing"
	"time"

	"github.com/tokenkeeper/tokenkeeper"
	"github.com/tokenkeeper/tokenkeeper/internal/oidctest"
)

// The crash scenario's sizes: readers that ask for more validity than a
// token ever has, with a 100 ms read cooldown, make every connection
// refresh several times a second (a refresh storm: refreshes are always in
// flight); leases last 9 s.
const (
	crashConns   = 40
	crashReaders = 16
	crashKills   = 10
)

// TestCrashesLoseNothing is issue 9's crash-safety check: a refresh storm
// against a rotating provider with reuse detection, on two replicas, one of
// which is killed with SIGKILL at a random point (mid-refresh, mid-commit,
// during start-up) and restarted, ten times over. Afterwards every row is
// still there and decrypts, and the provider's answers add up: each refresh
// it answered was committed, or was cut short by a kill.
//
// With a rotation grace period (30 s, far longer than a lease, so a refresh
// cut short twice in a row is still redone in time) every connection is
// connected and refreshes once more with the token it stores, and reuse
// detection never fires. Without one, a refresh whose answer died with its
// replica spent the stored refresh token: only such connections are lost,
// at most one per lease the kills orphaned (or per attempt that timed out:
// the provider may have rotated the token without its answer arriving in
// time), and each is flagged needs_reauth with the reason
// refresh_interrupted, never left connected with a dead token.
func TestCrashesLoseNothing(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		grace time.Duration
	}{
		{"grace period longer than the lease", 30 * time.Second},
		{"no grace period", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			crashStorm(t, tt.grace)
		})
	}
}

func crashStorm(t *testing.T, grace time.Duration) {
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	as := oidctest.Start(t, oidctest.Options{AccessTokenTTL: time.Minute, RotationGrace: grace, StrictClientAuth: true})
	const client, name = oidctest.RotatingPost, "oidc"
	c := newCluster(t, map[string]*tokenkeeper.Provider{name: as.Provider(name, client)}, map[string]string{
		"TOKENKEEPER_LEASE_TTL":       "9s",
		"TOKENKEEPER_REQUEST_TIMEOUT": "2s",
		"TOKENKEEPER_POLL_INTERVAL":   "500ms",
		"TOKENKEEPER_READ_COOLDOWN":   "100ms",
		"TOKENKEEPER_BACKOFF_BASE":    "1s", // a retry comes well inside the grace period
		"TOKENKEEPER_BACKOFF_MAX":     "4s",
		"TOKENKEEPER_API_RATE_LIMIT":  "0",
	})
	rs := c.startReplicas(2, nil)
	a := newAPI(c.apiKey("admin"))
	defer a.close()
	toks := grantAll(t, as, client, crashConns, 8)
	ids, err := importAll(ctx, a, rs, name, toks, 8)
	if err != nil {
		t.Fatal(err)
	}

	rd := startReaders(a, rs, ids, crashReaders, 0, time.Hour)
	defer rd.Stop()
	orphaned := 0
	for range crashKills {
		select {
		case <-time.After(rand.N(1500 * time.Millisecond)): // a random point in the storm
		case <-ctx.Done():
			t.Fatal(ctx.Err())
		}
		victim := rs[rand.IntN(len(rs))]
		pid := victim.PID()
		victim.Kill()
		held, err := c.leasesHeldBy(ctx, pid)
		if err != nil {
			t.Fatal(err)
		}
		orphaned += len(held)
		victim.Restart()
	}
	outcomes, expired := rd.Stop()
	before, err := c.refreshStats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d kills, %d refresh leases orphaned; storm: %d refreshes committed; reads %s", crashKills, orphaned, before.Total, summary(outcomes))
	if expired > 0 {
		t.Errorf("%d reads were answered with an expired token", expired)
	}

	// Every row survived and decrypts; a connected one refreshes once more
	// with the refresh token it stores (taking over any lease a kill left
	// behind), and its grant is alive.
	reauth := 0
	for _, id := range ids {
		// A manual refresh always goes to the provider (a read would not
		// refresh a token refreshed a moment ago by the storm).
		if _, _, err := a.do(ctx, http.MethodPost, rs[0].URL()+"/v1/connections/"+id+"/refresh", nil, nil); err != nil {
			t.Fatalf("connection %s: final refresh: %v", id, err)
		}
		tv, status, code, _, err := a.token(ctx, rs[0].URL(), id, time.Hour)
		switch {
		case err != nil:
			t.Fatalf("connection %s: final refresh: %v", id, err)
		case status == http.StatusOK:
			if !as.Active(t, client, tv.AccessToken) {
				t.Errorf("connection %s: connected, but its grant is not alive at the provider", id)
			}
		case status == http.StatusConflict && code == "NEEDS_REAUTH" && grace == 0:
			reauth++
			conn, err := a.connection(ctx, rs[0].URL(), id)
			if err != nil {
				t.Fatalf("connection %s: %v", id, err)
			}
			if le := conn.LastError; le == nil || le.Code != tokenkeeper.CodeRefreshInterrupted || le.Class != string(tokenkeeper.ClassRevoked) {
				t.Errorf("connection %s needs reauthorization with last error %+v, want class revoked, code %s", id, le, tokenkeeper.CodeRefreshInterrupted)
			} else if reauth == 1 {
				t.Logf("a lost connection's last error: %+v", *le)
			}
		default:
			t.Errorf("connection %s: final refresh: %d %s", id, status, code)
		}
	}
	for _, r := range rs {
		r.Stop()
	}
	ps := as.Stats(t)
	st, err := c.refreshStats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	counts, err := c.statusCounts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	rows := 0
	for _, n := range counts {
		rows += n
	}
	t.Logf("provider: %d refresh requests, %d successes, %d grace uses, %d reuse detections, %d invalid_grant; database: %d refreshes committed, %d failed attempts (%d unanswered); %d rows %v; rows lost %d",
		ps.RefreshRequestsByClient[client], ps.RefreshSuccessesByClient[client], ps.GraceUses, ps.ReuseDetections, ps.InvalidGrant, st.Total, st.Failed, st.Unanswered, rows, counts, crashConns-rows)
	if rows != crashConns || counts["connected"]+counts["needs_reauth"] != crashConns || counts["needs_reauth"] != reauth {
		t.Errorf("%d rows %v, %d answered NEEDS_REAUTH: want %d rows, each connected or needs_reauth", rows, counts, reauth, crashConns)
	}
	assertNoTokensInLogs(t, c, toks, nil)
	if grace > 0 {
		if counts["connected"] != crashConns || ps.ReuseDetections != 0 || ps.InvalidGrant != 0 {
			t.Errorf("%d connected, %d reuse detections, %d invalid_grant: want every connection alive", counts["connected"], ps.ReuseDetections, ps.InvalidGrant)
		}
		if got, want := ps.RefreshSuccessesByClient[client], st.Total+ps.GraceUses; got != want {
			t.Errorf("provider answered %d refreshes, database committed %d + %d grace uses", got, st.Total, ps.GraceUses)
		}
		if st.Total-before.Total < crashConns {
			t.Errorf("the final pass committed %d refreshes, want %d", st.Total-before.Total, crashConns)
		}
		return
	}
	// Without grace: each lost connection is one whose answer was lost, to
	// a kill or to a timeout (the provider may have answered too late).
	if reauth > orphaned+st.Unanswered || ps.ReuseDetections != reauth {
		t.Errorf("%d connections need reauthorization, %d reuse detections, %d leases orphaned, %d attempts unanswered: want as many reuses as lost connections, at most one per orphaned lease or unanswered attempt",
			reauth, ps.ReuseDetections, orphaned, st.Unanswered)
	}
	if got, want := ps.RefreshSuccessesByClient[client], st.Total+reauth; got != want {
		t.Errorf("provider answered %d refreshes, database committed %d, %d connections lost", got, st.Total, reauth)
	}
}
