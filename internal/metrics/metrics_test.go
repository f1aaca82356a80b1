package metrics

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tokenkeeper/tokenkeeper"
	"github.com/tokenkeeper/tokenkeeper/internal/apikey"
	"github.com/tokenkeeper/tokenkeeper/internal/httpapi"
	"github.com/tokenkeeper/tokenkeeper/internal/oauth"
	"github.com/tokenkeeper/tokenkeeper/internal/providertest"
	"github.com/tokenkeeper/tokenkeeper/internal/refresh"
	"github.com/tokenkeeper/tokenkeeper/internal/sqlite"
	"github.com/tokenkeeper/tokenkeeper/internal/vault"
)

// TestScriptedRun refreshes connections against a provider scripted to
// answer with every failure class, serves some API requests, then scrapes
// /metrics and checks every counter and gauge against the known outcomes.
// No token may appear in the metrics or in a log line.
func TestScriptedRun(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	logs := &syncBuffer{}
	logger := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "tk.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if err := st.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	key, _ := vault.GenerateKey()
	ring, err := vault.NewRing(key)
	if err != nil {
		t.Fatal(err)
	}
	prov := providertest.New(providertest.Options{})
	t.Cleanup(prov.Close)
	cat := catalog{"acme": prov.Provider("acme")}
	gate := refresh.NewProviderGate(refresh.GateOptions{Catalog: cat, Breaker: refresh.BreakerSettings{ConsecutiveFailures: 2, OpenFor: time.Hour, MaxOpen: time.Hour}})

	var now atomic.Int64 // the metrics' clock; 0 means the wall clock
	m, err := New(Options{
		Store: st, Stats: st, Breakers: gate.BreakerStates, NoRuntime: true, Logger: logger,
		Deliveries: func(context.Context) ([]tokenkeeper.DeliveryCount, error) {
			return []tokenkeeper.DeliveryCount{
				{Channel: tokenkeeper.ChannelWebhook, Status: tokenkeeper.DeliveryPending, Count: 3},
				{Channel: tokenkeeper.ChannelEmail, Status: tokenkeeper.DeliveryDead, Count: 1},
			}, nil
		},
		Undispatched: func(context.Context) (int, error) { return 4, nil },
		Now: func() time.Time {
			if n := now.Load(); n != 0 {
				return time.Unix(0, n)
			}
			return time.Now()
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	keeper, err := refresh.New(refresh.Options{
		Store: st, Sealer: ring, Catalog: cat, Gate: gate, Logger: logger,
		Client:    oauth.New(oauth.Options{Timeout: 5 * time.Second, Logger: logger}),
		Retry:     refresh.RetryBudget{Attempts: 1},
		UserHash:  func(string) string { return "u_hash" },
		OnAttempt: m.ObserveAttempt,
	})
	if err != nil {
		t.Fatal(err)
	}
	var secrets []string
	link := func(user string, expiresIn time.Duration) *tokenkeeper.Connection {
		g := prov.Grant("read")
		lr := tokenkeeper.LinkRequest{UserID: user, Provider: "acme", AccessToken: g.AccessToken, RefreshToken: g.RefreshToken, ExpiresAt: g.ExpiresAt}
		if expiresIn > 0 {
			lr.ExpiresAt, lr.ExpiresIn = time.Time{}, expiresIn
		}
		c, _, err := keeper.Link(ctx, lr)
		if err != nil {
			t.Fatal(err)
		}
		secrets = append(secrets, g.AccessToken.Reveal(), g.RefreshToken.Reveal())
		return c
	}
	refreshWith := func(c *tokenkeeper.Connection, r providertest.Response) {
		if r.Status != 0 {
			prov.Script(r)
		}
		_, _ = keeper.Refresh(ctx, c.ID, tokenkeeper.TriggerManual, "")
	}
	var cs []*tokenkeeper.Connection
	for i := range 7 {
		cs = append(cs, link(fmt.Sprintf("user-%d", i), 0))
	}
	far := link("user-far", 30*time.Hour) // beyond both windows
	link("user-mid", 5*time.Hour)         // within 24 h, not 1 h

	for _, c := range cs[:3] {
		refreshWith(c, providertest.Response{})
	}
	refreshWith(cs[3], providertest.Response{Status: 400, Body: `{"error":"invalid_grant","error_description":"grant refused"}`})
	refreshWith(cs[4], providertest.Response{Status: 400, Body: `{"error":"invalid_grant","error_description":"Token has been revoked"}`})
	refreshWith(cs[5], providertest.Response{Status: 401, Body: `{"error":"invalid_client"}`})
	refreshWith(cs[6], providertest.Response{Status: 503})
	refreshWith(cs[6], providertest.Response{Status: 503}) // the 2nd transient failure in a row opens the breaker
	refreshWith(far, providertest.Response{})              // deferred by the open breaker: no attempt

	// Requests to the API, the token route among them.
	plain, k, err := apikey.Generate("app", []tokenkeeper.Scope{tokenkeeper.ScopeTokensRead}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := st.CreateAPIKey(ctx, k); err != nil {
		t.Fatal(err)
	}
	secrets = append(secrets, plain.Reveal())
	api := httpapi.NewServer(httpapi.Config{Keeper: keeper, Store: st, Catalog: cat, Logger: logger, OnResponse: m.ObserveResponse})
	do := func(path string, auth bool) string {
		req := httptest.NewRequest(http.MethodGet, path, nil)
		if auth {
			req.Header.Set("Authorization", "Bearer "+plain.Reveal())
		}
		rec := httptest.NewRecorder()
		api.ServeHTTP(rec, req)
		return rec.Body.String()
	}
	do("/healthz", false)
	do("/v1/connections", false)
	do("/no/such/route", false)
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.Unmarshal([]byte(do("/v1/connections/"+cs[0].ID+"/token", true)), &tok); err != nil || tok.AccessToken == "" {
		t.Fatalf("token endpoint: %v", err)
	}
	secrets = append(secrets, tok.AccessToken)
	do("/v1/connections/"+cs[4].ID+"/token", true) // needs_reauth: 409

	next, ok, err := st.NextDue(ctx)
	if err != nil || !ok {
		t.Fatalf("NextDue = %v, %v", ok, err)
	}
	now.Store(next.Add(90 * time.Second).UnixNano())

	fams, text := scrape(t, m.Handler())
	tests := []struct {
		name   string
		labels []string
		want   float64
	}{
		{"tokenkeeper_refresh_attempts_total", []string{"class=success", "outcome=success", "provider=acme"}, 3},
		{"tokenkeeper_refresh_attempts_total", []string{"class=permanent", "outcome=failure", "provider=acme"}, 1},
		{"tokenkeeper_refresh_attempts_total", []string{"class=revoked", "outcome=failure", "provider=acme"}, 1},
		{"tokenkeeper_refresh_attempts_total", []string{"class=config", "outcome=failure", "provider=acme"}, 1},
		{"tokenkeeper_refresh_attempts_total", []string{"class=transient", "outcome=failure", "provider=acme"}, 2},
		{"tokenkeeper_refresh_duration_seconds", []string{"provider=acme"}, 8},
		{"tokenkeeper_connections", []string{"provider=acme", "status=connected"}, 7},
		{"tokenkeeper_connections", []string{"provider=acme", "status=needs_reauth"}, 1},
		{"tokenkeeper_connections", []string{"provider=acme", "status=error"}, 1},
		{"tokenkeeper_connections", []string{"provider=acme", "status=expired"}, 0},
		{"tokenkeeper_connections", []string{"provider=acme", "status=disconnected"}, 0},
		{"tokenkeeper_connections_expiring", []string{"provider=acme", "within=1h"}, 5},
		{"tokenkeeper_connections_expiring", []string{"provider=acme", "within=24h"}, 6},
		{"tokenkeeper_scheduler_lag_seconds", nil, 90},
		{"tokenkeeper_breaker_state", []string{"provider=acme"}, 2},
		{"tokenkeeper_outbox_deliveries", []string{"channel=webhook", "status=pending"}, 3},
		{"tokenkeeper_outbox_deliveries", []string{"channel=webhook", "status=dead"}, 0},
		{"tokenkeeper_outbox_deliveries", []string{"channel=email", "status=dead"}, 1},
		{"tokenkeeper_outbox_deliveries", []string{"channel=email", "status=delivered"}, 0},
		{"tokenkeeper_outbox_undispatched_events", nil, 4},
		{"tokenkeeper_stats_up", nil, 1},
		{"tokenkeeper_http_responses_total", []string{"route=GET /healthz", "status=200"}, 1},
		{"tokenkeeper_http_responses_total", []string{"route=GET /v1/connections", "status=401"}, 1},
		{"tokenkeeper_http_responses_total", []string{"route=unmatched", "status=404"}, 1},
		{"tokenkeeper_http_responses_total", []string{"route=GET /v1/connections/{id}/token", "status=200"}, 1},
		{"tokenkeeper_http_responses_total", []string{"route=GET /v1/connections/{id}/token", "status=409"}, 1},
		{"tokenkeeper_http_request_duration_seconds", []string{"route=GET /v1/connections/{id}/token"}, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name+"{"+strings.Join(tt.labels, ",")+"}", func(t *testing.T) {
			got, ok := value(t, fams, tt.name, tt.labels...)
			if !ok || got != tt.want {
				t.Errorf("= %v (present %v), want %v", got, ok, tt.want)
			}
		})
	}
	for _, s := range secrets {
		if strings.Contains(text, s) {
			t.Error("the metrics contain a token or key")
		}
		if strings.Contains(logs.String(), s) {
			t.Error("a log line contains a token or key")
		}
	}
	for _, id := range []string{cs[0].ID, cs[0].UserID} {
		if strings.Contains(text, id) {
			t.Errorf("the metrics name a connection or user id")
		}
	}
}

// failingStore is a store whose queries fail.
type failingStore struct{ tokenkeeper.Store }

func (failingStore) CountConnections(context.Context) ([]tokenkeeper.StatusCount, error) {
	return nil, io.ErrUnexpectedEOF
}

func (failingStore) NextDue(context.Context) (time.Time, bool, error) {
	return time.Time{}, false, io.ErrUnexpectedEOF
}

// TestScrapeSurvivesStoreErrors: a failing query leaves its metrics out,
// sets stats_up to 0, and the rest is still served.
func TestScrapeSurvivesStoreErrors(t *testing.T) {
	t.Parallel()
	m, err := New(Options{Store: failingStore{}, NoRuntime: true})
	if err != nil {
		t.Fatal(err)
	}
	m.ObserveAttempt("acme", tokenkeeper.RefreshAttempt{Class: tokenkeeper.ClassSuccess, Duration: time.Second})
	fams, _ := scrape(t, m.Handler())
	if v, ok := value(t, fams, "tokenkeeper_stats_up"); !ok || v != 0 {
		t.Errorf("stats_up = %v (present %v), want 0", v, ok)
	}
	if _, ok := fams["tokenkeeper_connections"]; ok {
		t.Error("connections reported although the query failed")
	}
	if v, _ := value(t, fams, "tokenkeeper_refresh_attempts_total", "class=success", "outcome=success", "provider=acme"); v != 1 {
		t.Errorf("the attempt counter is %v, want 1", v)
	}
}

func TestNewNeedsStore(t *testing.T) {
	t.Parallel()
	if _, err := New(Options{}); err == nil {
		t.Error("New without a store succeeded")
	}
}

func TestRuntimeCollectors(t *testing.T) {
	t.Parallel()
	m, err := New(Options{Store: failingStore{}})
	if err != nil {
		t.Fatal(err)
	}
	fams, _ := scrape(t, m.Handler())
	if _, ok := fams["go_goroutines"]; !ok {
		t.Error("no Go runtime metrics")
	}
}
