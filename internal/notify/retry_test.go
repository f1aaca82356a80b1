package notify

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tokenkeeper/tokenkeeper"
)

// deliveries returns every delivery of the store.
func (f *fixture) deliveries() []*tokenkeeper.Delivery {
	f.t.Helper()
	ds, _, err := f.store.ListDeliveries(f.t.Context(), tokenkeeper.DeliveryFilter{Limit: 1000})
	if err != nil {
		f.t.Fatal(err)
	}
	return ds
}

// webhookOnly returns options that send webhooks only.
func webhookOnly(o *Options) { o.SlackURL, o.DiscordURL = "", "" }

// TestWebhookRetriedUntilAccepted is issue 4's third check: a receiver
// that answers 500 three times and then 200 gets the event, with the same
// body and id every time, each signature verifying by the documented
// algorithm; the waits grow with the attempts (a fake clock, no sleeping).
func TestWebhookRetriedUntilAccepted(t *testing.T) {
	t.Parallel()
	f := setup(t, 500, 500, 500, 200)
	f.link("u1", "")
	s := f.service(webhookOnly, func(o *Options) { o.BackoffBase = 10 * time.Second })
	var waits []time.Duration
	for attempt := 1; attempt <= 4; attempt++ {
		p := f.drain(s)
		if p.Claimed != 1 {
			t.Fatalf("attempt %d: %+v", attempt, p)
		}
		d := f.deliveries()[0]
		if d.Attempts != attempt {
			t.Fatalf("attempt %d recorded as %d", attempt, d.Attempts)
		}
		if attempt < 4 {
			if d.Status != tokenkeeper.DeliveryPending || d.LastError != "the receiver answered 500" {
				t.Fatalf("after attempt %d: %s %q", attempt, d.Status, d.LastError)
			}
			wait := d.NextAttemptAt.Sub(f.clock.Now())
			waits = append(waits, wait)
			f.clock.Advance(wait - time.Millisecond)
			if p := f.drain(s); p.Claimed != 0 {
				t.Fatalf("attempt %d retried before its time", attempt)
			}
			f.clock.Advance(time.Millisecond)
		} else if d.Status != tokenkeeper.DeliveryDelivered || d.DeliveredAt.IsZero() {
			t.Fatalf("after the 200: %s", d.Status)
		}
	}
	// Full jitter at 0.5 of a ceiling that doubles: 5 s, 10 s, 20 s.
	if want := []time.Duration{5 * time.Second, 10 * time.Second, 20 * time.Second}; !equalDurations(waits, want) {
		t.Errorf("waits %v, want %v", waits, want)
	}
	reqs := f.webhook.received()
	if len(reqs) != 4 {
		t.Fatalf("the receiver got %d requests, want 4", len(reqs))
	}
	for i, req := range reqs {
		if !bytes.Equal(req.Body, reqs[0].Body) || req.Header.Get("Tokenkeeper-Event-Id") != decodeWebhook(t, reqs[0].Body).ID {
			t.Errorf("attempt %d sent another body or id", i+1)
		}
		// The documented algorithm, by hand: t=<unix>,v1=hex(HMAC-SHA256(secret, "<unix>.<body>")).
		sig := req.Header.Get(SignatureHeader)
		ts, _, _ := strings.Cut(strings.TrimPrefix(sig, "t="), ",")
		if sig != Sign(webhookSecret, time.Unix(mustAtoi(t, ts), 0), req.Body) {
			t.Errorf("attempt %d signature %q does not match the documented algorithm", i+1, sig)
		}
		if err := Verify(webhookSecret, sig, req.Body, f.clock.Now(), 5*time.Minute); err != nil {
			t.Errorf("attempt %d: %v", i+1, err)
		}
	}
	if err := Verify("another-secret", reqs[3].Header.Get(SignatureHeader), reqs[3].Body, f.clock.Now(), time.Hour); err == nil {
		t.Error("a signature verified with the wrong secret")
	}
}

func equalDurations(a, b []time.Duration) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestDeadAfterMaxAge: a receiver that never accepts makes the delivery dead
// once MaxAge has passed (the last attempt at the deadline), with its
// attempts and last error; an operator's retry sends it again.
func TestDeadAfterMaxAge(t *testing.T) {
	t.Parallel()
	script := make([]int, 50)
	for i := range script {
		script[i] = http.StatusBadGateway
	}
	f := setup(t, script...)
	f.link("u1", "")
	s := f.service(webhookOnly, func(o *Options) { o.MaxAge = time.Hour; o.BackoffBase = time.Minute; o.BackoffMax = 20 * time.Minute })
	created := f.clock.Now()
	var d *tokenkeeper.Delivery
	for range 50 {
		f.drain(s)
		if d = f.deliveries()[0]; d.Status != tokenkeeper.DeliveryPending {
			break
		}
		if d.NextAttemptAt.After(created.Add(time.Hour)) {
			t.Fatalf("a retry planned after the deadline: %s", d.NextAttemptAt)
		}
		f.clock.Set(d.NextAttemptAt)
	}
	if d.Status != tokenkeeper.DeliveryDead || !f.clock.Now().Equal(created.Add(time.Hour)) {
		t.Fatalf("status %s at %s, want dead at the deadline", d.Status, f.clock.Now())
	}
	if d.LastError != "gave up after 1h0m0s: the receiver answered 502" || d.Attempts < 5 {
		t.Errorf("dead delivery: %d attempts, %q", d.Attempts, d.LastError)
	}
	sent := len(f.webhook.received())
	if sent != d.Attempts {
		t.Errorf("%d requests for %d attempts", sent, d.Attempts)
	}
	// Dead deliveries are listed and counted; a retry starts a new run.
	if pending, dead, err := CountOutbox(t.Context(), f.store); pending != 0 || dead != 1 || err != nil {
		t.Errorf("CountOutbox = %d, %d, %v; want 0, 1", pending, dead, err)
	}
	if dead, _, _ := f.store.ListDeliveries(t.Context(), tokenkeeper.DeliveryFilter{Status: tokenkeeper.DeliveryDead}); len(dead) != 1 {
		t.Errorf("dead deliveries listed: %d", len(dead))
	}
	f.webhook.mu.Lock()
	f.webhook.script = nil // the receiver is fixed
	f.webhook.mu.Unlock()
	if _, err := f.store.RetryDelivery(t.Context(), d.ID, f.clock.Now()); err != nil {
		t.Fatal(err)
	}
	if p := f.drain(s); p.Delivered != 1 {
		t.Errorf("after the retry: %+v", p)
	}
	assertOutboxDone(t, f, 1)
}

// TestRetryAfterHonoured: a 503 with Retry-After: 120 is not retried sooner.
func TestRetryAfterHonoured(t *testing.T) {
	t.Parallel()
	f := setup(t, http.StatusServiceUnavailable)
	f.link("u1", "")
	s := f.service(webhookOnly)
	f.drain(s)
	d := f.deliveries()[0]
	if wait := d.NextAttemptAt.Sub(f.clock.Now()); wait != 120*time.Second {
		t.Errorf("retry after %s, want the receiver's 120s", wait)
	}
}

// TestUnreachableReceiver: a connection refused is a failure whose recorded
// error names neither the URL nor its secret path.
func TestUnreachableReceiver(t *testing.T) {
	t.Parallel()
	f := setup(t)
	f.link("u1", "")
	f.webhook.srv.Close()
	s := f.service(webhookOnly, func(o *Options) { o.HTTPTimeout = 2 * time.Second })
	f.drain(s)
	d := f.deliveries()[0]
	if d.Status != tokenkeeper.DeliveryPending || !strings.HasPrefix(d.LastError, "request failed: ") || strings.Contains(d.LastError, "/hooks/") {
		t.Errorf("status %s, error %q", d.Status, d.LastError)
	}
	assertAbsent(t, f, "/hooks/tokenkeeper")
}

// TestStopInterruptsSend: the service runs its loop (Start), a send hangs
// at the receiver, Stop cuts it short: it is recorded as due again at once
// and the next replica sends it.
func TestStopInterruptsSend(t *testing.T) {
	t.Parallel()
	f := setup(t)
	f.link("u1", "")
	arrived := make(chan struct{}, 1)
	hanging := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.ReadAll(r.Body) // the server notices the client leave only once the body is read
		arrived <- struct{}{}
		<-r.Context().Done()
	}))
	defer hanging.Close()
	s := f.service(webhookOnly, func(o *Options) { o.WebhookURL = tokenkeeper.Secret(hanging.URL) })
	if err := s.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	<-arrived
	s.Stop()
	d := f.deliveries()[0]
	if d.Status != tokenkeeper.DeliveryPending || !d.NextAttemptAt.Equal(f.clock.Now()) || d.LeaseOwner != "" || !strings.HasPrefix(d.LastError, "interrupted") {
		t.Errorf("after Stop: %s next %s lease %q error %q", d.Status, d.NextAttemptAt, d.LeaseOwner, d.LastError)
	}
	if p := f.drain(f.service(webhookOnly)); p.Delivered != 1 || len(f.webhook.received()) != 1 {
		t.Errorf("the next replica: %+v", p)
	}
}

func mustAtoi(t *testing.T, s string) int64 {
	t.Helper()
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		t.Fatalf("not a number: %q", s)
	}
	return n
}
