package main

import (
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tokenkeeper/tokenkeeper"
	"github.com/tokenkeeper/tokenkeeper/internal/notify"
	"github.com/tokenkeeper/tokenkeeper/internal/providertest"
)

// TestServeNotifies: serve, configured through the environment (secrets as
// env: and file: references), signs and sends webhooks for each event,
// writes e-mails to the log until SMTP is configured, and serves the
// notification routes.
func TestServeNotifies(t *testing.T) {
	t.Parallel()
	prov := providertest.New(providertest.Options{})
	t.Cleanup(prov.Close)
	env := newTestEnv(t, map[string]*tokenkeeper.Provider{"acme": prov.Provider("acme")})
	type hook struct {
		body []byte
		sig  string
	}
	hooks := make(chan hook, 16)
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		hooks <- hook{body, r.Header.Get(notify.SignatureHeader)}
	}))
	t.Cleanup(recv.Close)
	secretFile := filepath.Join(env.dir, "webhook-secret")
	if err := os.WriteFile(secretFile, []byte("whsec_e2e\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for k, v := range map[string]string{
		"TOKENKEEPER_WEBHOOK_URL":          "env:APP_WEBHOOK_URL",
		"APP_WEBHOOK_URL":                  recv.URL + "/hooks",
		"TOKENKEEPER_WEBHOOK_SECRET":       "file:" + secretFile,
		"TOKENKEEPER_NOTIFY_POLL_INTERVAL": "20ms",
		"TOKENKEEPER_NOTIFY_WORKERS":       "1", // in order: a needs_reauth's e-mail before its webhook
		"TOKENKEEPER_RECONNECT_URL":        "https://app.example/reconnect?connection={connection_id}",
	} {
		env.vars[k] = v
	}
	admin := env.apiKey("admin")
	base := env.serve()
	wait := func(want tokenkeeper.EventType) {
		t.Helper()
		select {
		case h := <-hooks:
			if !strings.Contains(string(h.body), `"type":"`+string(want)+`"`) {
				t.Fatalf("webhook %s, want %s", h.body, want)
			}
			if err := notify.Verify("whsec_e2e", h.sig, h.body, time.Now(), time.Minute); err != nil {
				t.Errorf("webhook signature: %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Fatalf("no %s webhook", want)
		}
	}

	g := prov.Grant("read")
	var conn struct{ ID string }
	status := call(t, "POST", base+"/v1/connections", admin, map[string]any{
		"user_id": "u1", "provider": "acme", "access_token": g.AccessToken.Reveal(), "refresh_token": g.RefreshToken.Reveal(),
		"expires_in": 3600, "user_email": "alice@example.com",
	}, &conn)
	if status != http.StatusCreated {
		t.Fatalf("link: %d", status)
	}
	wait(tokenkeeper.EventConnected)
	prov.Script(providertest.Response{Status: 400, Body: `{"error":"invalid_grant","error_description":"Token has been revoked."}`})
	if status := call(t, "POST", base+"/v1/connections/"+conn.ID+"/refresh", admin, nil, nil); status != http.StatusConflict {
		t.Fatalf("refresh of a revoked grant: %d", status)
	}
	wait(tokenkeeper.EventNeedsReauth)

	var list struct {
		Notifications []struct{ Type, ConnectionID string } `json:"notifications"`
	}
	call(t, "GET", base+"/v1/users/u1/notifications", admin, nil, &list)
	if len(list.Notifications) != 1 || list.Notifications[0].Type != string(tokenkeeper.EventNeedsReauth) {
		t.Errorf("in-app notifications: %+v", list.Notifications)
	}
	// The webhook arrives before its delivery is recorded as delivered:
	// wait for the record.
	var deliveries struct {
		Deliveries []struct{ Channel, Status string }
	}
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		call(t, "GET", base+"/v1/deliveries?status=delivered", admin, nil, &deliveries)
		if len(deliveries.Deliveries) >= 3 || time.Now().After(deadline) {
			break
		}
	}
	if len(deliveries.Deliveries) != 3 {
		t.Errorf("delivered: %+v, want 2 webhooks and the e-mail", deliveries.Deliveries)
	}
	logs := env.logs.String()
	if strings.Count(logs, "e-mail not sent: SMTP is not configured") != 1 || !strings.Contains(logs, `"event_type":"connection.needs_reauth"`) {
		t.Errorf("the e-mail was not logged as one line:\n%s", logs)
	}
	for _, s := range []string{"alice@example.com", "whsec_e2e", "app.example/reconnect", "/hooks"} {
		if strings.Contains(logs, s) {
			t.Errorf("%q appears in the logs", s)
		}
	}
	assertNoPlaintext(t, env.dir, logs, g.AccessToken.Reveal(), g.RefreshToken.Reveal())
}

func TestNotifySettingsValidated(t *testing.T) {
	t.Parallel()
	tests := map[string]func(*Config){
		"webhook without secret": func(c *Config) { c.WebhookURL = "https://app.example/hooks" },
		"smtp without sender":    func(c *Config) { c.SMTPURL = "smtp://mail.example:587" },
		"digest hour":            func(c *Config) { c.NotifyDigestHour = 24 },
		"workers":                func(c *Config) { c.NotifyWorkers = 0 },
		"max age":                func(c *Config) { c.NotifyMaxAge = 0 },
		"backoff order":          func(c *Config) { c.NotifyBackoffMax = time.Second },
		"unknown email event":    func(c *Config) { c.NotifyEmailEvents = "connection.needs_reauth,needs_reauth" },
	}
	if err := defaultConfig().validate(); err != nil {
		t.Fatalf("the defaults do not validate: %v", err)
	}
	for name, mod := range tests {
		c := defaultConfig()
		mod(&c)
		if err := c.validate(); err == nil {
			t.Errorf("%s: validate accepted it", name)
		}
	}
	c := defaultConfig()
	c.NotifyEmailEvents = " connection.needs_reauth , connection.refresh_warning "
	if types, err := c.emailEvents(); err != nil || len(types) != 2 {
		t.Errorf("emailEvents = %v, %v", types, err)
	}
}
