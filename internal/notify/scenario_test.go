package notify

import (
	"encoding/json"
	"io"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tokenkeeper/tokenkeeper"
	"github.com/tokenkeeper/tokenkeeper/internal/providertest"
)

// The provider answers of issue 4's check.
var (
	ok          = providertest.Response{} // processed normally: a new token
	badGrant    = providertest.Response{Status: 400, Body: `{"error":"invalid_grant","error_description":"the grant cannot be used now"}`}
	unavailable = providertest.Response{Status: 503, Body: `upstream unavailable`}
	revoked     = providertest.Response{Status: 400, Body: `{"error":"invalid_grant","error_description":"Token has been expired or revoked."}`}
	badClient   = providertest.Response{Status: 401, Body: `{"error":"invalid_client"}`}
)

const userEmail = "alice@example.com"

// runSequence links a connection for user u1 (with an e-mail address) and
// drives the real refresher through issue 4's sequence: ok, invalid_grant
// ×3; a re-link; ok, 503 ×5, ok; revoked. It returns the connection id.
func runSequence(f *fixture) string {
	f.t.Helper()
	c := f.link("u1", userEmail)
	f.provider.Script(ok, badGrant, badGrant, badGrant)
	for range 4 {
		f.refresh(c.ID)
	}
	f.link("u1", "") // the user reconnects: the same connection, connected again
	f.provider.Script(ok, unavailable, unavailable, unavailable, unavailable, unavailable, ok)
	for range 7 {
		f.refresh(c.ID)
	}
	f.provider.Script(revoked)
	f.refresh(c.ID)
	return c.ID
}

// wantEvents are the events of the sequence, in order.
var wantEvents = []tokenkeeper.EventType{
	tokenkeeper.EventConnected, tokenkeeper.EventRefreshWarning, tokenkeeper.EventNeedsReauth,
	tokenkeeper.EventConnected, tokenkeeper.EventRateLimited, tokenkeeper.EventRecovered, tokenkeeper.EventNeedsReauth,
}

// webhookPayload decodes a webhook body, rejecting fields outside DESIGN.md §4.
type webhookPayload struct {
	ID         string    `json:"id"`
	Type       string    `json:"type"`
	OccurredAt time.Time `json:"occurred_at"`
	Connection struct {
		ID        string `json:"id"`
		UserID    string `json:"user_id"`
		Provider  string `json:"provider"`
		AccountID string `json:"account_id"`
		Status    string `json:"status"`
	} `json:"connection"`
	Failure *struct {
		Class                        string `json:"class"`
		Code                         string `json:"code"`
		Message                      string `json:"message"`
		ConsecutiveFailures          int    `json:"consecutive_failures"`
		ConsecutiveTransientFailures int    `json:"consecutive_transient_failures"`
	} `json:"failure"`
}

func decodeWebhook(t *testing.T, body []byte) webhookPayload {
	t.Helper()
	var p webhookPayload
	dec := json.NewDecoder(strings.NewReader(string(body)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		t.Fatalf("webhook body %s: %v", body, err)
	}
	var raw map[string]any
	_ = json.Unmarshal(body, &raw)
	if _, ok := raw["failure"]; !ok {
		t.Errorf("webhook body without a failure key: %s", body)
	}
	return p
}

// TestPolicySequence is issue 4's first check: the scripted provider answers
// produce exactly the messages of the policy, by count, type, channel and
// order, over a real SMTP server and a real webhook receiver.
func TestPolicySequence(t *testing.T) {
	t.Parallel()
	f := setup(t)
	connID := runSequence(f)
	if pending, dead, err := CountOutbox(t.Context(), f.store); pending != 7 || dead != 0 || err != nil {
		t.Errorf("CountOutbox before the notifier = %d, %d, %v; want the 7 events pending", pending, dead, err)
	}
	s := f.service()
	p := f.drain(s)
	if p.Events != len(wantEvents) || p.Delivered != 9 || p.Retried+p.Dead != 0 {
		t.Errorf("pass = %+v; want 7 events, 9 deliveries (7 webhooks, 2 e-mails)", p)
	}

	// Webhooks: every event, in order, signed, DESIGN.md §4's shape.
	hooks := f.webhook.received()
	var got []tokenkeeper.EventType
	for i, req := range hooks {
		w := decodeWebhook(t, req.Body)
		got = append(got, tokenkeeper.EventType(w.Type))
		if err := Verify(webhookSecret, req.Header.Get(SignatureHeader), req.Body, f.clock.Now(), 5*time.Minute); err != nil {
			t.Errorf("webhook %d signature: %v", i, err)
		}
		if w.Connection.ID != connID || w.Connection.UserID != "u1" || w.Connection.Provider != "acme" || w.Connection.AccountID != "acct-1" {
			t.Errorf("webhook %d connection: %+v", i, w.Connection)
		}
		if req.Header.Get("Tokenkeeper-Event-Id") != w.ID || !strings.HasPrefix(w.ID, "evt_") {
			t.Errorf("webhook %d: id %q, header %q", i, w.ID, req.Header.Get("Tokenkeeper-Event-Id"))
		}
	}
	if !slices.Equal(got, wantEvents) {
		t.Fatalf("webhooks %v, want %v", got, wantEvents)
	}
	failures := []struct {
		class       string
		perm, trans int
	}{{}, {"permanent", 2, 0}, {"permanent", 3, 0}, {}, {"transient", 0, 5}, {}, {"revoked", 1, 0}}
	for i, want := range failures {
		w := decodeWebhook(t, hooks[i].Body)
		switch {
		case want.class == "" && w.Failure != nil:
			t.Errorf("webhook %d (%s) has a failure: %+v", i, w.Type, w.Failure)
		case want.class != "" && (w.Failure == nil || w.Failure.Class != want.class || w.Failure.ConsecutiveFailures != want.perm || w.Failure.ConsecutiveTransientFailures != want.trans):
			t.Errorf("webhook %d (%s) failure %+v, want %+v", i, w.Type, w.Failure, want)
		}
	}

	// In-app: the warning, both needs_reauth, the notice and the recovery.
	ns, _, err := f.store.ListNotifications(t.Context(), tokenkeeper.NotificationFilter{UserID: "u1"})
	if err != nil {
		t.Fatal(err)
	}
	var inApp []tokenkeeper.EventType
	for _, n := range slices.Backward(ns) {
		inApp = append(inApp, n.Type)
		if n.ConnectionID != connID || !strings.Contains(n.Message, "Acme Cloud") {
			t.Errorf("notification %+v", n)
		}
	}
	wantInApp := []tokenkeeper.EventType{tokenkeeper.EventRefreshWarning, tokenkeeper.EventNeedsReauth,
		tokenkeeper.EventRateLimited, tokenkeeper.EventRecovered, tokenkeeper.EventNeedsReauth}
	if !slices.Equal(inApp, wantInApp) {
		t.Errorf("in-app %v, want %v", inApp, wantInApp)
	}

	// E-mail: the two needs_reauth only, over STARTTLS with AUTH, each with
	// a reconnect link that works.
	mails := f.smtp.messages()
	if len(mails) != 2 {
		t.Fatalf("%d e-mails, want 2 (the needs_reauth ones)", len(mails))
	}
	for i, m := range mails {
		if !m.TLS || m.To != userEmail || m.From != "tk@example.com" || m.MessageID == "" {
			t.Errorf("e-mail %d: tls %t to %q from %q id %q", i, m.TLS, m.To, m.From, m.MessageID)
		}
		if m.Subject != "Reconnect your Acme Cloud account" || m.EventIDs != decodeWebhook(t, hooks[[]int{2, 6}[i]].Body).ID {
			t.Errorf("e-mail %d: subject %q, event %q", i, m.Subject, m.EventIDs)
		}
		link := regexp.MustCompile(`https?://\S+/reconnect\?\S+`).FindString(m.Text)
		if link == "" || !strings.Contains(m.HTML, `href="`+strings.ReplaceAll(link, "&", "&amp;")+`"`) {
			t.Fatalf("e-mail %d has no reconnect link in both parts:\n%s\n%s", i, m.Text, m.HTML)
		}
		resp, err := http.Get(link)
		if err != nil {
			t.Fatal(err)
		}
		page, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || string(page) != "Reconnect acme" {
			t.Errorf("the reconnect link answers %d %q", resp.StatusCode, page)
		}
	}
	if !strings.Contains(mails[1].Text, "revoked") {
		t.Errorf("the revoked e-mail does not say so:\n%s", mails[1].Text)
	}

	// Chat: nothing (no config error, no outage). Outbox: all delivered.
	if n := len(f.slack.received()) + len(f.discord.received()); n != 0 {
		t.Errorf("%d chat alerts, want none", n)
	}
	assertOutboxDone(t, f, 9)
	f.assertNoSecrets()
	assertAbsent(t, f, userEmail, "slacksecret", "discordsecret", "/hooks/tokenkeeper", "reconnect?connection")
}

// assertOutboxDone checks that every event is dispatched and every delivery
// delivered: want deliveries, none pending, none dead.
func assertOutboxDone(t *testing.T, f *fixture, want int) {
	t.Helper()
	if n, err := f.store.CountUndispatchedEvents(t.Context()); err != nil || n != 0 {
		t.Errorf("undispatched events = %d, %v", n, err)
	}
	counts, err := f.store.CountDeliveries(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	total := 0
	for _, c := range counts {
		if c.Status != tokenkeeper.DeliveryDelivered {
			t.Errorf("%d %s deliveries are %s", c.Count, c.Channel, c.Status)
		}
		total += c.Count
	}
	if total != want {
		t.Errorf("%d deliveries, want %d", total, want)
	}
}

// assertAbsent fails when one of the strings appears in the logs, a webhook
// or a chat alert (e-mails go to the address, so they may hold it).
func assertAbsent(t *testing.T, f *fixture, strs ...string) {
	t.Helper()
	outputs := []string{f.logs.String()}
	for _, r := range []*receiver{f.webhook, f.slack, f.discord} {
		for _, req := range r.received() {
			outputs = append(outputs, string(req.Body))
		}
	}
	for _, s := range strs {
		for _, out := range outputs {
			if strings.Contains(out, s) {
				t.Errorf("%q appears in the logs or a webhook", s)
				break
			}
		}
	}
}
