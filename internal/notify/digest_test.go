package notify

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/tokenkeeper/tokenkeeper"
)

// linkAccount links a grant for user at acme as account, with an address.
func (f *fixture) linkAccount(user, account, email string) *tokenkeeper.Connection {
	f.t.Helper()
	g := f.provider.Grant("read")
	c, _, err := f.keeper.Link(context.Background(), tokenkeeper.LinkRequest{
		UserID: user, Provider: "acme", AccountID: account, AccessToken: g.AccessToken, RefreshToken: g.RefreshToken,
		ExpiresIn: time.Hour, UserEmail: email,
	})
	if err != nil {
		f.t.Fatal(err)
	}
	return c
}

// TestDailyDigest: a digest user gets no immediate e-mail, but one e-mail a
// day at the digest hour with every item of the day before it; items after
// it wait for the next day. In-app notifications and webhooks are immediate.
func TestDailyDigest(t *testing.T) {
	t.Parallel()
	f := setup(t)
	a := f.linkAccount("u2", "acct-a", userEmail)
	b := f.linkAccount("u2", "acct-b", "")
	u, err := f.store.GetUser(t.Context(), "u2")
	if err != nil {
		t.Fatal(err)
	}
	u.Digest = true
	if err := f.store.PutUser(t.Context(), u); err != nil {
		t.Fatal(err)
	}
	s := f.service(func(o *Options) { o.SlackURL, o.DiscordURL, o.DigestHour = "", "", 8 })
	for _, c := range []*tokenkeeper.Connection{a, b} {
		f.provider.Script(revoked)
		f.refresh(c.ID)
	}
	f.drain(s)
	if n := len(f.smtp.messages()); n != 0 {
		t.Fatalf("%d immediate e-mails to a digest user", n)
	}
	if ns, _, _ := f.store.ListNotifications(t.Context(), tokenkeeper.NotificationFilter{UserID: "u2"}); len(ns) != 2 || !ns[0].DigestPending {
		t.Fatalf("in-app notifications: %d", len(ns))
	}
	f.clock.Set(time.Date(2026, 3, 2, 7, 59, 59, 0, time.UTC))
	f.drain(s)
	if n := len(f.smtp.messages()); n != 0 {
		t.Fatalf("a digest before the digest hour")
	}
	f.clock.Set(time.Date(2026, 3, 2, 8, 0, 0, 0, time.UTC))
	if p := f.drain(s); p.Digests != 1 {
		t.Errorf("pass at the digest hour: %+v", p)
	}
	mails := f.smtp.messages()
	if len(mails) != 1 {
		t.Fatalf("%d digests, want 1", len(mails))
	}
	m := mails[0]
	if m.Subject != "2 of your connected accounts need attention" || strings.Count(m.Text, "/reconnect?connection=") != 2 ||
		!strings.Contains(m.Text, a.ID) || !strings.Contains(m.Text, b.ID) {
		t.Errorf("digest %q:\n%s", m.Subject, m.Text)
	}
	// Another item later that day waits for tomorrow's digest.
	c := f.linkAccount("u2", "acct-c", "")
	f.provider.Script(revoked)
	f.refresh(c.ID)
	f.clock.Set(time.Date(2026, 3, 2, 23, 0, 0, 0, time.UTC))
	f.drain(s)
	if n := len(f.smtp.messages()); n != 1 {
		t.Fatalf("%d e-mails the same day, want still 1", n)
	}
	f.clock.Set(time.Date(2026, 3, 3, 8, 0, 0, 0, time.UTC))
	f.drain(s)
	mails = f.smtp.messages()
	if len(mails) != 2 || mails[1].Subject != "Reconnect your Acme Cloud account" || !strings.Contains(mails[1].Text, c.ID) {
		t.Fatalf("the next day's digest: %d e-mails", len(mails))
	}
	assertOutboxDone(t, f, 3+3+2) // 3 connected + 3 needs_reauth webhooks, 2 digests
}

// TestLogMailer: without SMTP, an e-mail is one log line with the event
// type, the provider and a hashed recipient: never the address, the text or
// the link.
func TestLogMailer(t *testing.T) {
	t.Parallel()
	f := setup(t)
	c := f.link("u1", userEmail)
	f.provider.Script(revoked)
	f.refresh(c.ID)
	s := f.service(func(o *Options) {
		o.Mailer = nil
		o.RecipientHash = func(a string) string { return "hash(" + strings.ReplaceAll(a, "@", "-at-") + ")" }
	})
	if p := f.drain(s); p.Delivered == 0 || p.Dead != 0 {
		t.Fatalf("pass %+v", p)
	}
	var lines []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(f.logs.String()), "\n") {
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		if rec["msg"] == "e-mail not sent: SMTP is not configured" {
			lines = append(lines, rec)
		}
	}
	if len(lines) != 1 {
		t.Fatalf("%d e-mail log lines, want 1", len(lines))
	}
	want := map[string]any{"kind": "notice", "event_type": "connection.needs_reauth", "provider": "acme", "recipient": "hash(alice-at-example.com)"}
	for k, v := range want {
		if lines[0][k] != v {
			t.Errorf("%s = %v, want %v", k, lines[0][k], v)
		}
	}
	assertAbsent(t, f, userEmail, "reconnect?connection", "Reconnect your")
	f.assertNoSecrets()
	if HashRecipient("A@example.com") != HashRecipient("a@example.com") || !strings.HasPrefix(HashRecipient("a@example.com"), "r_") {
		t.Error("HashRecipient is not case-insensitive with its prefix")
	}
}

// TestLoopPolls: a started service sleeps on its clock between passes and
// delivers an event committed while it slept at the next poll.
func TestLoopPolls(t *testing.T) {
	t.Parallel()
	f := setup(t)
	idle := make(chan time.Time)
	s := f.service(webhookOnly, func(o *Options) { o.Idle = idle; o.PollInterval = 2 * time.Second })
	if err := s.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	defer s.Stop()
	if err := s.Start(t.Context()); err == nil {
		t.Error("a second Start succeeded")
	}
	wake := <-idle // the first pass found nothing
	f.link("u1", "")
	if n := len(f.webhook.received()); n != 0 {
		t.Fatalf("delivered before the poll: %d", n)
	}
	f.clock.Set(wake)
	<-idle // the pass after the poll, and the empty one after it
	if n := len(f.webhook.received()); n != 1 {
		t.Errorf("%d webhooks after the poll, want 1", n)
	}
}
