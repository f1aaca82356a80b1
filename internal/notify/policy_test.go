package notify

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tokenkeeper/tokenkeeper"
)

func TestDescribe(t *testing.T) {
	t.Parallel()
	event := func(typ tokenkeeper.EventType, class tokenkeeper.Class, code string, n, nt int) tokenkeeper.Event {
		e := tokenkeeper.Event{Type: typ, Provider: "acme"}
		if class != "" {
			e.Failure = &tokenkeeper.EventFailure{Class: class, Code: code, Message: "rt_SECRETSECRET echoed", ConsecutiveFailures: n, ConsecutiveTransientFailures: nt}
		}
		return e
	}
	tests := map[string]struct {
		e         tokenkeeper.Event
		headline  string
		detail    []string
		reconnect bool
	}{
		"needs_reauth":   {event(tokenkeeper.EventNeedsReauth, tokenkeeper.ClassPermanent, "invalid_grant", 3, 0), "Reconnect your Acme account", []string{"refused", "invalid_grant", "Reconnect"}, true},
		"revoked":        {event(tokenkeeper.EventNeedsReauth, tokenkeeper.ClassRevoked, "invalid_grant", 1, 0), "Reconnect your Acme account", []string{"revoked or has expired at Acme"}, true},
		"warning":        {event(tokenkeeper.EventRefreshWarning, tokenkeeper.ClassPermanent, "http_401", 2, 0), "Trouble renewing access to Acme", []string{"2 times in a row", "http_401"}, false},
		"rate_limited":   {event(tokenkeeper.EventRateLimited, tokenkeeper.ClassTransient, "http_429", 0, 5), "Acme is not answering right now", []string{"last 5 attempts", "nothing for you to do"}, false},
		"recovered":      {event(tokenkeeper.EventRecovered, "", "", 0, 0), "Your Acme connection works again", []string{"renewed"}, false},
		"error":          {event(tokenkeeper.EventError, tokenkeeper.ClassConfig, "invalid_client", 0, 0), "Acme connection in error", []string{"operator", "invalid_client"}, false},
		"no code":        {event(tokenkeeper.EventNeedsReauth, tokenkeeper.ClassPermanent, "", 3, 0), "Reconnect your Acme account", []string{"no reason given"}, true},
		"connected":      {event(tokenkeeper.EventConnected, "", "", 0, 0), "Acme connected", []string{"connected"}, false},
		"disconnected":   {event(tokenkeeper.EventDisconnected, "", "", 0, 0), "Acme disconnected", []string{"disconnected"}, false},
		"an unknown one": {event("connection.other", "", "", 0, 0), "connection.other", []string{"at Acme"}, false},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			got := Describe(tc.e, "Acme")
			if got.Headline != tc.headline || got.Reconnect != tc.reconnect {
				t.Errorf("Describe = %q (reconnect %t), want %q (%t)", got.Headline, got.Reconnect, tc.headline, tc.reconnect)
			}
			for _, s := range tc.detail {
				if !strings.Contains(got.Detail, s) {
					t.Errorf("detail %q lacks %q", got.Detail, s)
				}
			}
			if strings.Contains(got.Detail, "SECRET") {
				t.Errorf("the provider's message reached the text: %q", got.Detail)
			}
		})
	}
}

func TestPolicyDefaults(t *testing.T) {
	t.Parallel()
	p := DefaultPolicy()
	for _, typ := range EventTypes {
		inApp := typ == tokenkeeper.EventRefreshWarning || typ == tokenkeeper.EventNeedsReauth || typ == tokenkeeper.EventRateLimited || typ == tokenkeeper.EventRecovered
		if p.inApp(typ) != inApp || p.email(typ) != (typ == tokenkeeper.EventNeedsReauth) ||
			p.chat(typ) != (typ == tokenkeeper.EventError) || !p.webhook(typ) {
			t.Errorf("%s: in-app %t email %t chat %t webhook %t", typ, p.inApp(typ), p.email(typ), p.chat(typ), p.webhook(typ))
		}
	}
	if got, err := ParseEventTypes([]string{"connection.needs_reauth", "connection.refresh_warning"}); err != nil || len(got) != 2 {
		t.Errorf("ParseEventTypes = %v, %v", got, err)
	}
	if _, err := ParseEventTypes([]string{"connection.needs_reauth", "needs_reauth"}); err == nil || !strings.Contains(err.Error(), `"needs_reauth"`) {
		t.Errorf("ParseEventTypes(unknown) = %v", err)
	}
}

func TestExpandReconnectURL(t *testing.T) {
	t.Parallel()
	e := tokenkeeper.Event{ConnectionID: "conn_1", Provider: "acme", UserID: "a b&c=d", AccountID: "x@y"}
	tests := map[string]string{
		"":                              "",
		"https://app.example/reconnect": "https://app.example/reconnect",
		"https://app.example/r?c={connection_id}&p={provider}": "https://app.example/r?c=conn_1&p=acme",
		"https://app.example/r?u={user_id}&a={account_id}":     "https://app.example/r?u=a+b%26c%3Dd&a=x%40y",
	}
	for tmpl, want := range tests {
		if got := ExpandReconnectURL(tmpl, e); got != want {
			t.Errorf("ExpandReconnectURL(%q) = %q, want %q", tmpl, got, want)
		}
	}
}

func TestDigestCut(t *testing.T) {
	t.Parallel()
	day := func(d, h, m int) time.Time { return time.Date(2026, 3, d, h, m, 0, 0, time.UTC) }
	tests := []struct {
		now  time.Time
		hour int
		want time.Time
	}{
		{day(2, 7, 59), 8, day(1, 8, 0)},
		{day(2, 8, 0), 8, day(2, 8, 0)},
		{day(2, 23, 0), 8, day(2, 8, 0)},
		{day(2, 0, 0), 0, day(2, 0, 0)},
		{time.Date(2026, 3, 2, 9, 30, 0, 0, time.FixedZone("CET", 3600)), 8, day(2, 8, 0)}, // 08:30 UTC
	}
	for _, tc := range tests {
		if got := digestCut(tc.now, tc.hour); !got.Equal(tc.want) {
			t.Errorf("digestCut(%s, %d) = %s, want %s", tc.now, tc.hour, got, tc.want)
		}
	}
}

func TestSignVerify(t *testing.T) {
	t.Parallel()
	now := time.Unix(1_800_000_000, 0)
	body := []byte(`{"id":"evt_1"}`)
	sig := Sign("secret", now, body)
	if !strings.HasPrefix(sig, "t=1800000000,v1=") || len(sig) != len("t=1800000000,v1=")+64 {
		t.Fatalf("Sign = %q", sig)
	}
	tests := map[string]struct {
		secret tokenkeeper.Secret
		header string
		body   []byte
		now    time.Time
		ok     bool
	}{
		"valid":                   {"secret", sig, body, now, true},
		"valid among several v1":  {"secret", "t=1800000000,v1=00ff," + strings.TrimPrefix(sig, "t=1800000000,"), body, now, true},
		"within tolerance":        {"secret", sig, body, now.Add(4 * time.Minute), true},
		"too old":                 {"secret", sig, body, now.Add(6 * time.Minute), false},
		"from the future":         {"secret", sig, body, now.Add(-6 * time.Minute), false},
		"other secret":            {"other", sig, body, now, false},
		"other body":              {"secret", sig, []byte(`{"id":"evt_2"}`), now, false},
		"no timestamp":            {"secret", strings.TrimPrefix(sig, "t=1800000000,"), body, now, false},
		"timestamp moved":         {"secret", strings.Replace(sig, "t=1800000000", "t=1800000001", 1), body, now, false},
		"empty":                   {"secret", "", body, now, false},
		"not hex":                 {"secret", "t=1800000000,v1=zz", body, now, false},
		"whitespace is tolerated": {"secret", strings.ReplaceAll(sig, ",", ", "), body, now, true},
	}
	for name, tc := range tests {
		err := Verify(tc.secret, tc.header, tc.body, tc.now, 5*time.Minute)
		if (err == nil) != tc.ok {
			t.Errorf("%s: Verify = %v, want ok %t", name, err, tc.ok)
		}
	}
}

func TestErrorText(t *testing.T) {
	t.Parallel()
	tests := map[string]string{
		`Post "https://hooks.slack.com/services/T0/B0/XYZ": dial tcp: lookup hooks.slack.com: no such host`: `Post "[url]": dial tcp: lookup hooks.slack.com: no such host`,
		`smtp: 550 5.1.1 <alice@example.com>: Recipient address rejected`:                                   `smtp: 550 5.1.1 <[address]>: Recipient address rejected`,
		`the receiver answered 500`: `the receiver answered 500`,
		strings.Repeat("x", 400):    strings.Repeat("x", 300),
	}
	for in, want := range tests {
		if got := errorText(errors.New(in)); got != want {
			t.Errorf("errorText(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestRetryAfterHeader(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 3, 2, 12, 0, 0, 0, time.UTC)
	tests := map[string]time.Duration{
		"":                              0,
		"120":                           120 * time.Second,
		"-5":                            0,
		"soon":                          0,
		"Mon, 02 Mar 2026 12:01:00 GMT": time.Minute,
		"Mon, 02 Mar 2026 11:00:00 GMT": 0,
		"999999":                        24 * time.Hour,
	}
	for v, want := range tests {
		if got := retryAfter(v, now); got != want {
			t.Errorf("retryAfter(%q) = %s, want %s", v, got, want)
		}
	}
}

func TestTemplatesOverride(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	write := func(name, body string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("notice.subject.tmpl", "[App] {{.Headline}}\r\nBcc: evil@example.com")
	write("notice.html.tmpl", `<a href="{{.ReconnectURL}}">{{.ProviderName}}</a>`)
	tm, err := LoadTemplates(dir)
	if err != nil {
		t.Fatal(err)
	}
	item := MailItem{Headline: "Reconnect X", ProviderName: "<b>X</b>", ReconnectURL: "javascript:alert(1)"}
	subject, text, html, err := tm.Render("notice", MailData{MailItem: item, Items: []MailItem{item}})
	if err != nil {
		t.Fatal(err)
	}
	if subject != "[App] Reconnect X Bcc: evil@example.com" {
		t.Errorf("subject %q: an override's line breaks must not make headers", subject)
	}
	if !strings.Contains(text, "Reconnect X") {
		t.Errorf("the embedded text template was not kept: %q", text)
	}
	if html != `<a href="#ZgotmplZ">&lt;b&gt;X&lt;/b&gt;</a>` {
		t.Errorf("html %q: not escaped", html)
	}
	for name, body := range map[string]string{"bad syntax": "{{.Headline", "unknown field": "{{.Nope}}"} {
		bad := t.TempDir()
		if err := os.WriteFile(filepath.Join(bad, "digest.txt.tmpl"), []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := LoadTemplates(bad); err == nil {
			t.Errorf("%s: LoadTemplates accepted a broken template", name)
		}
	}
}

func TestNewSMTPMailer(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		url, from string
		ok        bool
	}{
		"starttls with auth": {"smtp://user:pa55word@mail.example:587", "tk@example.com", true},
		"tls":                {"smtps://user:pa55word@mail.example", "Tk <tk@example.com>", true},
		"no auth, no tls":    {"smtp://relay.internal:25?tls=none", "tk@example.com", true},
		"named mechanism":    {"smtp://user:pa55word@mail.example?auth=login&tls=opportunistic", "tk@example.com", true},
		"bad scheme":         {"http://user:pa55word@mail.example", "tk@example.com", false},
		"bad tls":            {"smtp://user:pa55word@mail.example?tls=maybe", "tk@example.com", false},
		"bad auth":           {"smtp://user:pa55word@mail.example?auth=magic", "tk@example.com", false},
		"bad port":           {"smtp://user:pa55word@mail.example:99999", "tk@example.com", false},
		"no host":            {"smtp://user:pa55word@:587", "tk@example.com", false},
		"not a url":          {"smtp://user:pa55word@mail.example:5%87", "tk@example.com", false},
		"bad sender":         {"smtp://user:pa55word@mail.example", "not an address", false},
	}
	for name, tc := range tests {
		_, err := NewSMTPMailer(SMTPConfig{URL: tokenkeeper.Secret(tc.url), From: tc.from})
		if (err == nil) != tc.ok {
			t.Errorf("%s: NewSMTPMailer = %v, want ok %t", name, err, tc.ok)
		}
		if err != nil && strings.Contains(err.Error(), "pa55word") {
			t.Errorf("%s: the error quotes the password: %v", name, err)
		}
	}
}

// TestSMTPAuthFailure: a server that refuses the credentials fails the
// attempt; it is retried, and its error names no address or password.
func TestSMTPAuthFailure(t *testing.T) {
	t.Parallel()
	f := setup(t)
	c := f.link("u1", userEmail)
	f.provider.Script(revoked)
	f.refresh(c.ID)
	wrong, err := NewSMTPMailer(SMTPConfig{URL: tokenkeeper.Secret("smtp://user:wrong-pass@" + f.smtp.addr), From: "tk@example.com", TLSConfig: f.smtp.TLSConfig()})
	if err != nil {
		t.Fatal(err)
	}
	s := f.service(func(o *Options) { o.Mailer = wrong })
	f.drain(s)
	for _, d := range f.deliveries() {
		if d.Channel != tokenkeeper.ChannelEmail {
			continue
		}
		if d.Status != tokenkeeper.DeliveryPending || !strings.HasPrefix(d.LastError, "smtp: ") ||
			strings.Contains(d.LastError, "wrong-pass") || strings.Contains(d.LastError, userEmail) {
			t.Errorf("e-mail after a refused login: %s %q", d.Status, d.LastError)
		}
	}
	if n := len(f.smtp.messages()); n != 0 {
		t.Errorf("%d e-mails accepted without authentication", n)
	}
	assertAbsent(t, f, "wrong-pass", userEmail)
}
