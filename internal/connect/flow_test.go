package connect_test

import (
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tokenkeeper/tokenkeeper"
	"github.com/tokenkeeper/tokenkeeper/internal/connect"
)

// TestConnectFlow: the application starts a flow, the user consents at the
// provider, the callback stores the connection with its refresh token,
// expiry and provider account id, emits connection.connected, and sends the
// browser back to the return URL with the connection id and status.
func TestConnectFlow(t *testing.T) {
	t.Parallel()
	f := setup(t)
	auth := f.start(url.Values{"user_id": {"u1"}, "return_url": {returnURL}, "scopes": {"write"}})

	q := auth.Query()
	want := map[string]string{
		"response_type": "code", "client_id": "providertest-client", "redirect_uri": f.server.URL + connect.CallbackPath,
		"scope": "read write", "access_type": "offline", "prompt": "consent", "code_challenge_method": "S256",
	}
	for k, v := range want {
		if q.Get(k) != v {
			t.Errorf("authorization URL %s = %q, want %q", k, q.Get(k), v)
		}
	}
	if len(q.Get("state")) < 40 || len(q.Get("code_challenge")) != 43 {
		t.Errorf("state %d bytes, code_challenge %d bytes: want 32 random bytes and an S256 challenge", len(q.Get("state")), len(q.Get("code_challenge")))
	}
	if n := f.pendingStates(); n != 1 {
		t.Errorf("%d states pending after the start, want 1", n)
	}

	cb := f.authorize(auth)
	r := f.get(cb.String(), "")
	back := r.location(t)
	if r.status != http.StatusFound || back.Host != "app.example" || back.Path != "/oauth/done" || back.Query().Get("tab") != "settings" {
		t.Fatalf("callback answered %d to %s, want 302 to the return URL", r.status, back)
	}
	if back.Query().Get("status") != "connected" || back.Query().Get("error") != "" {
		t.Errorf("return URL query %v, want status=connected", back.Query())
	}
	if got := r.header.Get("Referrer-Policy"); got != "no-referrer" {
		t.Errorf("Referrer-Policy = %q", got)
	}
	c, err := f.store.GetConnection(t.Context(), back.Query().Get("connection_id"))
	if err != nil {
		t.Fatal(err)
	}
	if c.UserID != "u1" || c.Provider != "acme" || c.AccountID != "alice" || c.Status != tokenkeeper.StatusConnected {
		t.Errorf("connection %+v", c)
	}
	if !c.HasRefreshToken() || c.ExpiresAt.IsZero() || c.NextRefreshAt.IsZero() {
		t.Errorf("connection lacks refresh token (%v), expiry (%v) or next refresh (%v)", c.HasRefreshToken(), c.ExpiresAt, c.NextRefreshAt)
	}
	if ev := f.events(); !slices.Equal(ev, []tokenkeeper.EventType{tokenkeeper.EventConnected}) {
		t.Errorf("events %v, want one connection.connected", ev)
	}
	if n := f.pendingStates(); n != 0 {
		t.Errorf("%d states pending after the callback, want 0", n)
	}
	tok, _, err := f.keeper.AccessToken(t.Context(), c.ID, 0)
	if err != nil || tok.AccessToken.IsZero() {
		t.Fatalf("AccessToken: %v", err)
	}
	// A later read that needs more validity than is left refreshes the token.
	fresh, _, err := f.keeper.AccessToken(t.Context(), c.ID, 2*time.Hour)
	if err != nil || fresh.AccessToken == tok.AccessToken || f.provider.Refreshes() != 1 {
		t.Errorf("refresh on read: err %v, same token %v, %d refreshes", err, fresh.AccessToken == tok.AccessToken, f.provider.Refreshes())
	}
	for _, secret := range []string{tok.AccessToken.Reveal(), fresh.AccessToken.Reveal(), q.Get("state"), cb.Query().Get("code")} {
		if secret != "" && strings.Contains(f.logText(), secret) {
			t.Error("a token, state or code appears in the logs")
		}
	}
}

// TestConnectWithoutReturnURL ends on tokenkeeper's own page; a provider
// whose PKCE is "no" gets no code_challenge.
func TestConnectWithoutReturnURL(t *testing.T) {
	t.Parallel()
	f := setup(t)
	f.catalog.set("acme", func(p *tokenkeeper.Provider) { p.PKCE = tokenkeeper.PKCENo })
	auth := f.start(url.Values{"user_id": {"u2"}, "account_id": {"hint"}})
	if auth.Query().Has("code_challenge") {
		t.Error("a provider without PKCE got a code_challenge")
	}
	r := f.get(f.authorize(auth).String(), "")
	if r.status != http.StatusOK || !strings.Contains(r.body, "Connected") || r.header.Get("Content-Type") != "text/html; charset=utf-8" {
		t.Fatalf("callback answered %d %q: %s", r.status, r.header.Get("Content-Type"), r.body)
	}
	if cs := f.connections(); len(cs) != 1 || cs[0].AccountID != "alice" {
		t.Errorf("connections %v, want one with the provider's account id (not the hint)", cs)
	}
}

// TestCallbackRefusals: a forged, replayed, expired or missing state, and
// a provider's own error, are each answered clearly and change nothing.
func TestCallbackRefusals(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		target func(f *fixture) string // the callback URL, after any preparation
		status int
		code   string // on the page, or error= in the return URL
		page   bool
	}{
		{"forged state", func(f *fixture) string {
			f.start(url.Values{"user_id": {"u"}, "return_url": {returnURL}})
			return connect.CallbackPath + "?code=abc&state=" + strings.Repeat("A", 43)
		}, http.StatusBadRequest, "state_invalid", true},
		{"missing state", func(f *fixture) string { return connect.CallbackPath + "?code=abc" }, http.StatusBadRequest, "state_missing", true},
		{"replayed state", func(f *fixture) string {
			cb := f.authorize(f.start(url.Values{"user_id": {"u"}, "return_url": {returnURL}}))
			if r := f.get(cb.String(), ""); r.status != http.StatusFound || r.location(f.t).Query().Get("connection_id") == "" {
				f.t.Fatalf("first callback: %d %s", r.status, r.body)
			}
			return cb.String()
		}, http.StatusBadRequest, "state_used", true},
		{"expired state", func(f *fixture) string {
			cb := f.authorize(f.start(url.Values{"user_id": {"u"}, "return_url": {returnURL}}))
			f.clock.Advance(connect.DefaultStateTTL)
			return cb.String()
		}, http.StatusBadRequest, "state_expired", true},
		{"access denied", func(f *fixture) string {
			auth := f.start(url.Values{"user_id": {"u"}, "return_url": {returnURL}})
			return connect.CallbackPath + "?error=access_denied&error_description=no&state=" + auth.Query().Get("state")
		}, http.StatusFound, "access_denied", false},
		{"code from another flow", func(f *fixture) string {
			f.authorize(f.start(url.Values{"user_id": {"u"}}))
			mine := f.authorize(f.start(url.Values{"user_id": {"u"}, "return_url": {returnURL}}))
			q := mine.Query()
			q.Set("code", "code_stolen")
			return connect.CallbackPath + "?" + q.Encode()
		}, http.StatusFound, "exchange_failed", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := setup(t)
			target := tc.target(f)
			conns, events := len(f.connections()), len(f.events())
			r := f.get(target, "")
			if r.status != tc.status {
				t.Fatalf("callback answered %d, want %d: %s", r.status, tc.status, r.body)
			}
			if tc.page {
				if !strings.Contains(r.body, "<code>"+tc.code+"</code>") || strings.Contains(r.body, "goroutine") {
					t.Errorf("page does not explain %s:\n%s", tc.code, r.body)
				}
			} else if got := r.location(t).Query().Get("error"); got != tc.code {
				t.Errorf("redirected with error=%q, want %q", got, tc.code)
			}
			if len(f.connections()) != conns || len(f.events()) != events {
				t.Errorf("the refused callback changed connections (%d→%d) or events (%d→%d)", conns, len(f.connections()), events, len(f.events()))
			}
		})
	}
}

// TestStartRefusals: the start route checks its key, its parameters and the
// return URL's allow-list, storing no state when it refuses.
func TestStartRefusals(t *testing.T) {
	t.Parallel()
	f := setup(t)
	readOnly := f.apiKey(tokenkeeper.ScopeTokensRead)
	tests := []struct {
		name, target, key string
		status            int
		code              string
	}{
		{"no key", "/v1/connect/acme?user_id=u", "", 401, "UNAUTHORIZED"},
		{"read-only key", "/v1/connect/acme?user_id=u", readOnly, 403, "FORBIDDEN"},
		{"no user", "/v1/connect/acme", f.key, 400, "INVALID_REQUEST"},
		{"bad user", "/v1/connect/acme?user_id=a%20b", f.key, 400, "INVALID_REQUEST"},
		{"unknown provider", "/v1/connect/nope?user_id=u", f.key, 400, "PROVIDER_UNKNOWN"},
		{"return URL off the list", "/v1/connect/acme?user_id=u&return_url=" + url.QueryEscape("https://evil.example/oauth/done"), f.key, 400, "INVALID_REQUEST"},
		{"return URL escaping the prefix", "/v1/connect/acme?user_id=u&return_url=" + url.QueryEscape("https://app.example/oauth/../admin"), f.key, 400, "INVALID_REQUEST"},
		{"return URL other port", "/v1/connect/acme?user_id=u&return_url=" + url.QueryEscape("https://app.example:8443/oauth/done"), f.key, 400, "INVALID_REQUEST"},
		{"bad scopes", "/v1/connect/acme?user_id=u&scopes=" + url.QueryEscape("a\"b"), f.key, 400, "INVALID_REQUEST"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := f.get(tc.target, tc.key)
			if r.status != tc.status || !strings.Contains(r.body, `"code":"`+tc.code+`"`) {
				t.Errorf("answer %d %s, want %d %s", r.status, r.body, tc.status, tc.code)
			}
		})
	}
	if n := f.pendingStates(); n != 0 {
		t.Errorf("%d states stored by refused starts", n)
	}
}

// TestAccountLookup: an account endpoint that fails stops the flow with a
// clear error and nothing stored; the access token is sent to it, never logged.
func TestAccountLookup(t *testing.T) {
	t.Parallel()
	f := setup(t)
	f.catalog.set("acme", func(p *tokenkeeper.Provider) { p.AccountURL = f.provider.URL() + "/nowhere" })
	cb := f.authorize(f.start(url.Values{"user_id": {"u"}, "return_url": {returnURL}}))
	r := f.get(cb.String(), "")
	if got := r.location(t).Query().Get("error"); got != "account_lookup_failed" {
		t.Errorf("error=%q, want account_lookup_failed", got)
	}
	if len(f.connections()) != 0 {
		t.Error("a connection was stored without its account id")
	}
}
