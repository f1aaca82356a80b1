package notify

import (
	"context"
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tokenkeeper/tokenkeeper"
	"github.com/tokenkeeper/tokenkeeper/internal/refresh"
)

// TestOutageAlerts: the refresh gate's breaker opens after transient
// failures, stays open through a failed probe, and closes after a good
// one: one chat alert for the opening and one for the closing, to Slack
// ({"text"}) and Discord ({"content"}).
func TestOutageAlerts(t *testing.T) {
	t.Parallel()
	f := setup(t)
	s := f.service()
	var mu sync.Mutex
	var changes []bool
	gate := refresh.NewProviderGate(refresh.GateOptions{
		Clock: f.clock, Catalog: f.catalog,
		Breaker: refresh.BreakerSettings{ConsecutiveFailures: 3, OpenFor: 30 * time.Second},
		OnBreakerChange: func(provider string, open bool) {
			mu.Lock()
			changes = append(changes, open)
			mu.Unlock()
			s.BreakerChanged(provider, open)
		},
	})
	down := func(context.Context) tokenkeeper.Outcome {
		return tokenkeeper.Outcome{Class: tokenkeeper.ClassTransient, Code: "http_503"}
	}
	up := func(context.Context) tokenkeeper.Outcome { return tokenkeeper.Outcome{Class: tokenkeeper.ClassSuccess} }
	for range 6 { // three trip it, the others are deferred
		gate.Do(t.Context(), "acme", down)
	}
	f.clock.Advance(31 * time.Second)
	gate.Do(t.Context(), "acme", down) // the probe fails: open again, no new alert
	f.clock.Advance(61 * time.Second)
	gate.Do(t.Context(), "acme", up) // the probe succeeds: closed
	gate.Do(t.Context(), "acme", up)
	mu.Lock()
	got := append([]bool(nil), changes...)
	mu.Unlock()
	if len(got) != 2 || !got[0] || got[1] {
		t.Fatalf("breaker changes %v, want [open closed]", got)
	}
	if p := f.drain(s); p.Delivered != 4 {
		t.Errorf("pass %+v, want 4 alerts delivered", p)
	}
	for name, r := range map[string]*receiver{"text": f.slack, "content": f.discord} {
		reqs := r.received()
		if len(reqs) != 2 {
			t.Fatalf("%d %s alerts, want 2", len(reqs), name)
		}
		for i, want := range []string{"Acme Cloud is failing", "Acme Cloud answers again"} {
			var body map[string]string
			if err := json.Unmarshal(reqs[i].Body, &body); err != nil || len(body) != 1 || !strings.HasPrefix(body[name], "tokenkeeper: "+want) {
				t.Errorf("alert %d: %s", i, reqs[i].Body)
			}
		}
	}
	assertAbsent(t, f, "slacksecret", "discordsecret")
}

// TestConfigErrorAlert: connection.error is alerted to operators (and sent
// to the application), never to the user.
func TestConfigErrorAlert(t *testing.T) {
	t.Parallel()
	f := setup(t)
	c := f.link("u1", userEmail)
	f.provider.Script(badClient)
	f.refresh(c.ID)
	f.drain(f.service())
	if n := len(f.smtp.messages()); n != 0 {
		t.Errorf("%d e-mails for a configuration error", n)
	}
	if ns, _, _ := f.store.ListNotifications(t.Context(), tokenkeeper.NotificationFilter{UserID: "u1"}); len(ns) != 0 {
		t.Errorf("%d in-app notifications for a configuration error", len(ns))
	}
	for _, r := range []*receiver{f.slack, f.discord} {
		reqs := r.received()
		if len(reqs) != 1 {
			t.Fatalf("chat alerts: %d", len(reqs))
		}
		body := string(reqs[0].Body)
		if !strings.Contains(body, c.ID) || !strings.Contains(body, "invalid_client") || strings.Contains(body, "u1") {
			t.Errorf("chat alert %s: want the connection and the code, not the user", body)
		}
	}
	var types []string
	for _, req := range f.webhook.received() {
		types = append(types, decodeWebhook(t, req.Body).Type)
	}
	if strings.Join(types, ",") != "connection.connected,connection.error" {
		t.Errorf("webhooks %v", types)
	}
}
