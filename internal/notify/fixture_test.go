package notify

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/tokenkeeper/tokenkeeper"
	"github.com/tokenkeeper/tokenkeeper/internal/clock"
	"github.com/tokenkeeper/tokenkeeper/internal/oauth"
	"github.com/tokenkeeper/tokenkeeper/internal/providertest"
	"github.com/tokenkeeper/tokenkeeper/internal/refresh"
	"github.com/tokenkeeper/tokenkeeper/internal/sqlite"
	"github.com/tokenkeeper/tokenkeeper/internal/testkit"
	"github.com/tokenkeeper/tokenkeeper/internal/vault"
)

// start is the tests' first "now": a Monday, 07:00 UTC, before the digest hour.
var start = time.Date(2026, 3, 2, 7, 0, 0, 0, time.UTC)

// webhookSecret signs the tests' webhooks.
const webhookSecret tokenkeeper.Secret = "whsec_test_0123456789"

type staticCatalog = testkit.Catalog

type syncBuffer = testkit.SyncBuffer

// fixture is the real stack: a SQLite store, a key ring, the real refresher
// and token client against an in-process provider, an SMTP server with
// STARTTLS and AUTH, a webhook receiver, Slack and Discord receivers, the
// application's reconnect page, and one fake clock for all of it.
type fixture struct {
	t        *testing.T
	clock    *clock.Fake
	store    *sqlite.Store
	ring     *vault.Ring
	provider *providertest.Server
	catalog  staticCatalog
	keeper   *refresh.Refresher
	logs     *syncBuffer
	logger   *slog.Logger
	smtp     *smtpServer
	webhook  *receiver
	slack    *receiver
	discord  *receiver
	app      *httptest.Server
}

func setup(t *testing.T, webhookScript ...int) *fixture {
	t.Helper()
	f := &fixture{t: t, clock: clock.NewFake(start), logs: &syncBuffer{}}
	f.logger = slog.New(slog.NewJSONHandler(f.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	var err error
	if f.store, err = sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "tk.db"), sqlite.Options{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.store.Close() })
	if err := f.store.Migrate(t.Context()); err != nil {
		t.Fatal(err)
	}
	key, err := vault.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	if f.ring, err = vault.NewRing(key); err != nil {
		t.Fatal(err)
	}
	f.provider = providertest.New(providertest.Options{Now: f.clock.Now})
	t.Cleanup(f.provider.Close)
	acme := f.provider.Provider("acme")
	acme.DisplayName = "Acme Cloud"
	f.catalog = staticCatalog{"acme": acme}
	f.keeper, err = refresh.New(refresh.Options{
		Store: f.store, Sealer: f.ring, Catalog: f.catalog, Clock: f.clock, Logger: f.logger,
		Client: oauth.New(oauth.Options{Timeout: 5 * time.Second, Logger: f.logger, Now: f.clock.Now}),
		Retry:  refresh.RetryBudget{Attempts: 1}, // one provider answer per refresh
	})
	if err != nil {
		t.Fatal(err)
	}
	f.smtp = newSMTPServer(t)
	f.webhook = newReceiver(t, webhookScript...)
	f.slack, f.discord = newReceiver(t), newReceiver(t)
	f.app = httptest.NewServer(http.HandlerFunc(f.reconnectPage))
	t.Cleanup(f.app.Close)
	return f
}

// reconnectPage is the application's reconnect page: 200 for a connection
// that exists at the named provider and needs the user, 404 otherwise.
func (f *fixture) reconnectPage(w http.ResponseWriter, r *http.Request) {
	c, err := f.store.GetConnection(r.Context(), r.URL.Query().Get("connection"))
	if r.URL.Path != "/reconnect" || err != nil || c.Provider != r.URL.Query().Get("provider") || c.Status != tokenkeeper.StatusNeedsReauth {
		http.NotFound(w, r)
		return
	}
	fmt.Fprintf(w, "Reconnect %s", c.Provider)
}

// options returns the notifier's options on the fixture: SMTP, webhook,
// Slack and Discord receivers, the reconnect page, one worker (so the
// receivers see messages in order), then mods.
func (f *fixture) options(mods ...func(*Options)) Options {
	f.t.Helper()
	mailer, err := NewSMTPMailer(SMTPConfig{URL: tokenkeeper.Secret(f.smtp.URL()), From: "Tokenkeeper <tk@example.com>", TLSConfig: f.smtp.TLSConfig(), Timeout: 5 * time.Second})
	if err != nil {
		f.t.Fatal(err)
	}
	o := Options{
		Store: f.store, Sealer: f.ring, Catalog: f.catalog, Clock: f.clock, Logger: f.logger,
		Mailer: mailer, WebhookURL: tokenkeeper.Secret(f.webhook.srv.URL + "/hooks/tokenkeeper"), WebhookSecret: webhookSecret,
		SlackURL: tokenkeeper.Secret(f.slack.srv.URL + "/services/T0/B0/slacksecret"), DiscordURL: tokenkeeper.Secret(f.discord.srv.URL + "/api/webhooks/1/discordsecret"),
		ReconnectURL: f.app.URL + "/reconnect?connection={connection_id}&provider={provider}",
		Workers:      1, LeaseTTL: time.Minute, Rand: func() float64 { return 0.5 },
	}
	for _, mod := range mods {
		mod(&o)
	}
	return o
}

// service returns a notifier (a replica of its own) on the fixture.
func (f *fixture) service(mods ...func(*Options)) *Service {
	f.t.Helper()
	s, err := New(f.options(mods...))
	if err != nil {
		f.t.Fatal(err)
	}
	return s
}

// drain runs passes of s until nothing is due now, failing on errors.
func (f *fixture) drain(s *Service) Pass {
	f.t.Helper()
	p, err := s.Drain(f.t.Context())
	if err != nil {
		f.t.Fatalf("Drain: %v", err)
	}
	return p
}

// link links a new grant for user at acme, with an e-mail address.
func (f *fixture) link(user, email string) *tokenkeeper.Connection {
	f.t.Helper()
	g := f.provider.Grant("read")
	c, _, err := f.keeper.Link(context.Background(), tokenkeeper.LinkRequest{
		UserID: user, Provider: "acme", AccountID: "acct-1", AccessToken: g.AccessToken, RefreshToken: g.RefreshToken,
		ExpiresIn: time.Hour, UserEmail: email,
	})
	if err != nil {
		f.t.Fatalf("link: %v", err)
	}
	return c
}

// refresh asks the provider once through the real refresher, a minute later.
func (f *fixture) refresh(id string) {
	f.t.Helper()
	f.clock.Advance(time.Minute)
	_, _ = f.keeper.Refresh(context.Background(), id, tokenkeeper.TriggerManual, "")
}

// providerToken matches every token the fake provider issues.
var providerToken = regexp.MustCompile(`\b(at|rt)_[A-Z2-7]{26}\b`)

// assertNoSecrets fails when a provider token, or any of the extra strings,
// appears in the logs, an e-mail, a webhook or a chat alert.
func (f *fixture) assertNoSecrets(extra ...string) {
	f.t.Helper()
	outputs := map[string]string{"logs": f.logs.String()}
	for i, m := range f.smtp.messages() {
		outputs[fmt.Sprintf("e-mail %d", i)] = m.Raw + m.Text + m.HTML
	}
	for name, r := range map[string]*receiver{"webhook": f.webhook, "slack": f.slack, "discord": f.discord} {
		for i, req := range r.received() {
			outputs[fmt.Sprintf("%s %d", name, i)] = string(req.Body) + fmt.Sprint(req.Header)
		}
	}
	for name, out := range outputs {
		if tok := providerToken.FindString(out); tok != "" {
			f.t.Errorf("a provider token appears in %s", name)
		}
		for _, s := range extra {
			if s != "" && strings.Contains(out, s) {
				f.t.Errorf("%q appears in %s", s, name)
			}
		}
	}
}
