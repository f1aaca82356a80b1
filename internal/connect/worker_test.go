package connect_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/tokenkeeper/tokenkeeper"
	"github.com/tokenkeeper/tokenkeeper/internal/connect"
	"github.com/tokenkeeper/tokenkeeper/internal/oauth"
	"github.com/tokenkeeper/tokenkeeper/internal/providertest"
)

// worker returns a revocation worker on the fixture's store and clock.
func (f *fixture) worker(maxAge time.Duration) *connect.Worker {
	f.t.Helper()
	w, err := connect.NewWorker(connect.WorkerOptions{
		Store: f.store, Sealer: f.ring, Catalog: f.catalog, Clock: f.clock, MaxAge: maxAge,
		Client: oauth.New(oauth.Options{HTTPClient: f.provider.Client(), Timeout: 5 * time.Second}),
		Rand:   func() float64 { return 0.5 },
	})
	if err != nil {
		f.t.Fatal(err)
	}
	return w
}

// refreshToken returns a connection's refresh token in plaintext.
func (f *fixture) refreshToken(c *tokenkeeper.Connection) string {
	f.t.Helper()
	b, err := f.ring.Open(c.SealedRefreshToken, tokenkeeper.AdditionalData(c.ID, tokenkeeper.FieldRefreshToken))
	if err != nil {
		f.t.Fatal(err)
	}
	return string(b)
}

// disconnect deletes the connection through the API.
func (f *fixture) disconnect(c *tokenkeeper.Connection) {
	f.t.Helper()
	req, _ := http.NewRequestWithContext(f.t.Context(), http.MethodDelete, f.server.URL+"/v1/connections/"+c.ID, nil)
	req.Header.Set("Authorization", "Bearer "+f.key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		f.t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		f.t.Fatalf("DELETE answered %d", resp.StatusCode)
	}
	if got, _ := f.store.GetConnection(f.t.Context(), c.ID); got.Status != tokenkeeper.StatusDisconnected || got.HasRefreshToken() {
		f.t.Fatalf("after DELETE: status %s, refresh token kept %v", got.Status, got.HasRefreshToken())
	}
}

func (f *fixture) pass(w *connect.Worker) connect.PassResult {
	f.t.Helper()
	res, err := w.RunOnce(f.t.Context())
	if err != nil {
		f.t.Fatal(err)
	}
	return res
}

func (f *fixture) revocations() int {
	f.t.Helper()
	n, err := f.store.CountRevocations(f.t.Context())
	if err != nil {
		f.t.Fatal(err)
	}
	return n
}

// TestDisconnectRevokes: a disconnect revokes the grant at the provider at
// once, and nothing is left to retry.
func TestDisconnectRevokes(t *testing.T) {
	t.Parallel()
	f := setup(t)
	c := f.connectOnce("u1")
	rt := f.refreshToken(c)
	f.disconnect(c)
	if f.provider.Alive(rt) || f.revocations() != 0 {
		t.Errorf("grant alive %v, %d revocations queued; want revoked and none", f.provider.Alive(rt), f.revocations())
	}
}

// TestRevocationRetried: a revocation that fails transiently at disconnect
// is queued with the disconnect, retried with backoff by the worker, and
// erased once it succeeds; the connection is disconnected at once.
func TestRevocationRetried(t *testing.T) {
	t.Parallel()
	f := setup(t)
	c := f.connectOnce("u1")
	rt := f.refreshToken(c)
	f.provider.Script(providertest.Response{Status: http.StatusServiceUnavailable})
	f.disconnect(c)
	if !f.provider.Alive(rt) || f.revocations() != 1 {
		t.Fatalf("after a failed revocation: grant alive %v, %d queued; want alive and 1", f.provider.Alive(rt), f.revocations())
	}
	w := f.worker(0)
	if res := f.pass(w); res.Revoked+res.Retried+res.Abandoned != 0 {
		t.Errorf("a pass before the retry is due did %+v", res)
	}
	f.provider.Script(providertest.Response{Status: http.StatusBadGateway})
	f.clock.Advance(time.Minute)
	if res := f.pass(w); res.Retried != 1 || f.revocations() != 1 {
		t.Errorf("second failure: %+v, %d queued", res, f.revocations())
	}
	f.clock.Advance(time.Minute - time.Second) // the second retry waits 2 min × 0.75 (Rand 0.5)
	if res := f.pass(w); res.Revoked+res.Retried != 0 {
		t.Errorf("a pass inside the backoff did %+v", res)
	}
	f.clock.Advance(time.Minute)
	if res := f.pass(w); res.Revoked != 1 {
		t.Errorf("third attempt: %+v, want revoked", res)
	}
	if f.provider.Alive(rt) || f.revocations() != 0 {
		t.Errorf("grant alive %v, %d queued; want revoked and none", f.provider.Alive(rt), f.revocations())
	}
	as, _ := f.store.ListAttempts(t.Context(), c.ID, 10)
	if len(as) < 3 || as[0].Trigger != "revoke" || as[0].Class != tokenkeeper.ClassSuccess {
		t.Errorf("history %+v: want the revocation attempts, the last a success", as)
	}
}

// TestRevocationGivenUp: after MaxAge the worker stops trying and erases
// the token; the history says so.
func TestRevocationGivenUp(t *testing.T) {
	t.Parallel()
	f := setup(t)
	c := f.connectOnce("u1")
	f.provider.Script(providertest.Response{Status: http.StatusServiceUnavailable})
	f.disconnect(c)
	f.clock.Advance(2 * time.Hour)
	if res := f.pass(f.worker(time.Hour)); res.Abandoned != 1 || f.revocations() != 0 {
		t.Errorf("pass after the max age: %+v, %d queued", res, f.revocations())
	}
	as, _ := f.store.ListAttempts(t.Context(), c.ID, 10)
	if len(as) == 0 || as[0].Code != "revocation_abandoned" {
		t.Errorf("history %+v: want revocation_abandoned first", as)
	}
}

// TestWorkerStartStop: the worker runs passes until stopped, and purges
// expired states.
func TestWorkerStartStop(t *testing.T) {
	t.Parallel()
	f := setup(t)
	f.start(map[string][]string{"user_id": {"u"}})
	f.clock.Advance(connect.DefaultStateTTL + 2*time.Hour)
	w := f.worker(0)
	if res := f.pass(w); res.Purged != 1 {
		t.Errorf("pass purged %d rows, want the expired state", res.Purged)
	}
	if err := w.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	if err := w.Start(t.Context()); err == nil {
		t.Error("a second Start succeeded")
	}
	if err := f.clock.WaitForWaiters(t.Context(), 1); err != nil {
		t.Fatal(err)
	}
	w.Stop()
	w.Stop()
}
