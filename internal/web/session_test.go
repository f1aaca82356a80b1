package web

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tokenkeeper/tokenkeeper"
	"github.com/tokenkeeper/tokenkeeper/internal/apikey"
)

// cookieOf returns the named cookie a response sets.
func cookieOf(res *http.Response, name string) *http.Cookie {
	for _, c := range res.Cookies() {
		if c.Name == name {
			return c
		}
	}
	return nil
}

func TestSessionCookie(t *testing.T) {
	t.Parallel()
	for _, secure := range []bool{false, true} {
		t.Run(map[bool]string{false: "http", true: "https"}[secure], func(t *testing.T) {
			t.Parallel()
			f := setup(t, options{secure: secure})
			c := f.client()
			_, page, _ := c.get("/admin/login")
			_, _, res := c.post("/admin/login", url.Values{"key": {f.adminKey}, "csrf": {csrf(t, page)}})
			ck := cookieOf(res, sessionCookie)
			if ck == nil {
				t.Fatal("login set no session cookie")
			}
			if !ck.HttpOnly || ck.SameSite != http.SameSiteStrictMode || ck.Path != "/admin/" || ck.Secure != secure {
				t.Errorf("session cookie HttpOnly=%v SameSite=%v Path=%q Secure=%v; want HttpOnly, Strict, /admin/, Secure=%v",
					ck.HttpOnly, ck.SameSite, ck.Path, ck.Secure, secure)
			}
			if ck.MaxAge != int(DefaultSessionTTL/time.Second) {
				t.Errorf("session cookie Max-Age %d, want %d", ck.MaxAge, int(DefaultSessionTTL/time.Second))
			}
			if strings.Contains(ck.Value, f.adminKey) {
				t.Error("the session cookie contains the API key")
			}
		})
	}
}

func TestLoginRefused(t *testing.T) {
	t.Parallel()
	f := setup(t, options{})
	plain, k, err := apikey.Generate("reader", []tokenkeeper.Scope{tokenkeeper.ScopeTokensRead}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := f.store.CreateAPIKey(t.Context(), k); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name      string
		key       string
		dropCSRF  bool
		want      int
		wantError string
	}{
		{"unknown key", "tk_" + strings.Repeat("A", 43), false, http.StatusUnauthorized, "not valid"},
		{"malformed key", "hunter2", false, http.StatusUnauthorized, "not valid"},
		{"key without admin scope", plain.Reveal(), false, http.StatusForbidden, "lacks the admin scope"},
		{"no CSRF token", f.adminKey, true, http.StatusForbidden, "expired"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := f.client()
			_, page, _ := c.get("/admin/login")
			form := url.Values{"key": {tt.key}, "csrf": {csrf(t, page)}}
			if tt.dropCSRF {
				form.Del("csrf")
			}
			status, body, res := c.post("/admin/login", form)
			if status != tt.want || !strings.Contains(body, tt.wantError) || cookieOf(res, sessionCookie) != nil {
				t.Errorf("login = %d (session cookie %v), want %d and %q", status, cookieOf(res, sessionCookie) != nil, tt.want, tt.wantError)
			}
			if strings.Contains(body, tt.key) {
				t.Error("the login page echoes the key")
			}
		})
	}
	f.noSecrets("the logs", f.logs.String())
	if strings.Contains(f.logs.String(), plain.Reveal()) {
		t.Error("the logs contain a refused key")
	}
}

func TestSessionEnds(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		// spoil changes the session after login: the cookie value, the clock, the key.
		spoil func(f *fixture, c *client, now *atomic.Int64)
	}{
		{"tampered cookie", func(f *fixture, c *client, _ *atomic.Int64) {
			u, _ := url.Parse(f.srv.URL + "/admin/")
			cks := c.hc.Jar.Cookies(u)
			for _, ck := range cks {
				if ck.Name == sessionCookie {
					parts := strings.Split(ck.Value, ".")
					parts[1] = "key_someoneelse"
					ck.Value = strings.Join(parts, ".")
					ck.Path = "/admin/"
				}
			}
			c.hc.Jar.SetCookies(u, cks)
		}},
		{"expired", func(_ *fixture, _ *client, now *atomic.Int64) {
			now.Add(int64(DefaultSessionTTL + time.Second))
		}},
		{"revoked key", func(f *fixture, _ *client, _ *atomic.Int64) {
			keys, _ := f.store.ListAPIKeys(context.Background())
			for _, k := range keys {
				if err := f.store.RevokeAPIKey(context.Background(), k.ID, time.Now()); err != nil {
					f.t.Fatal(err)
				}
			}
		}},
		{"logged out", func(_ *fixture, c *client, _ *atomic.Int64) {
			_, page, _ := c.get("/admin/")
			if status, _, _ := c.post("/admin/logout", url.Values{"csrf": {csrf(c.f.t, page)}}); status != http.StatusSeeOther {
				c.f.t.Fatalf("logout = %d", status)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var now atomic.Int64
			now.Store(time.Now().UnixNano())
			f := setup(t, options{now: func() time.Time { return time.Unix(0, now.Load()) }})
			c := f.client()
			token := c.login(f.adminKey)
			tt.spoil(f, c, &now)
			status, _, res := c.get("/admin/")
			if status != http.StatusSeeOther || res.Header.Get("Location") != "/admin/login" {
				t.Errorf("GET /admin/ = %d to %q, want 303 to /admin/login", status, res.Header.Get("Location"))
			}
			if status, _, _ := c.post("/admin/logout", url.Values{"csrf": {token}}); status != http.StatusUnauthorized {
				t.Errorf("POST with the old CSRF token = %d, want 401", status)
			}
		})
	}
}

// TestCSRF proves that every form refuses a POST without the session's
// CSRF token, and that nothing happens then.
func TestCSRF(t *testing.T) {
	t.Parallel()
	f := setup(t, options{})
	s := f.seed()
	c := f.client()
	token := c.login(f.adminKey)
	other := f.client()
	otherToken := other.login(f.adminKey)
	if otherToken == token {
		t.Fatal("two sessions have the same CSRF token")
	}
	routes := []string{
		"/admin/connections/" + s.healthy.ID + "/refresh",
		"/admin/connections/" + s.healthy.ID + "/disconnect",
		"/admin/connections/" + s.healthy.ID + "/reconnect-link",
		"/admin/outbox/" + s.dead[0].ID + "/retry",
		"/admin/logout",
	}
	// A wrong token differs from the real one in its first character (a
	// fixed replacement would equal it whenever the token starts with it).
	first := "x"
	if strings.HasPrefix(token, first) {
		first = "y"
	}
	tokens := []struct {
		name   string
		form   url.Values
		header []string
		want   int
	}{
		{"no token", url.Values{}, nil, http.StatusForbidden},
		{"wrong token", url.Values{"csrf": {first + token[1:]}}, nil, http.StatusForbidden},
		{"another session's token", url.Values{"csrf": {otherToken}}, nil, http.StatusForbidden},
		{"cross-site request", url.Values{"csrf": {token}}, []string{"Sec-Fetch-Site", "cross-site"}, http.StatusForbidden},
	}
	before := f.attempts(s.healthy.ID)
	for _, route := range routes {
		for _, tt := range tokens {
			t.Run(tt.name+" "+route, func(t *testing.T) {
				if status, _, _ := c.post(route, tt.form, tt.header...); status != tt.want {
					t.Errorf("POST %s = %d, want %d", route, status, tt.want)
				}
			})
		}
	}
	if got := f.get(s.healthy.ID); got.Status != tokenkeeper.StatusConnected || len(f.attempts(s.healthy.ID)) != len(before) {
		t.Errorf("a refused form changed the connection: status %s, %d attempts (was %d)", got.Status, len(f.attempts(s.healthy.ID)), len(before))
	}
	if d, err := f.store.GetDelivery(context.Background(), s.dead[0].ID); err != nil || d.Status != tokenkeeper.DeliveryDead {
		t.Errorf("a refused form retried a delivery: %v, %v", d, err)
	}
	if status, _, _ := c.get("/admin/"); status != http.StatusOK {
		t.Errorf("the session ended after refused forms: %d", status)
	}
}

func (f *fixture) get(id string) *tokenkeeper.Connection {
	f.t.Helper()
	c, err := f.store.GetConnection(context.Background(), id)
	if err != nil {
		f.t.Fatal(err)
	}
	return c
}

func (f *fixture) attempts(id string) []tokenkeeper.RefreshAttempt {
	f.t.Helper()
	as, err := f.store.ListAttempts(context.Background(), id, 1000)
	if err != nil {
		f.t.Fatal(err)
	}
	return as
}

// TestSessionKeyRotation: a session signed with an older key of the ring
// stays valid while that key is in the ring, and its CSRF token too.
func TestSessionKeyRotation(t *testing.T) {
	t.Parallel()
	oldKey, newKey := []byte(strings.Repeat("o", 32)), []byte(strings.Repeat("n", 32))
	before := &Handler{cfg: Config{SessionKeys: [][]byte{oldKey}, SessionTTL: time.Hour, Now: time.Now}}
	value, _ := before.newSession("key_1")
	want, ok := before.parseSession(value)
	if !ok {
		t.Fatal("a new session does not parse")
	}
	tests := []struct {
		name string
		keys [][]byte
		ok   bool
	}{
		{"old key still in the ring", [][]byte{newKey, oldKey}, true},
		{"old key retired", [][]byte{newKey}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			after := &Handler{cfg: Config{SessionKeys: tt.keys, SessionTTL: time.Hour, Now: time.Now}}
			got, ok := after.parseSession(value)
			if ok != tt.ok || ok && (got.keyID != "key_1" || got.csrf != want.csrf) {
				t.Errorf("parseSession = %+v, %v; want ok=%v with the same CSRF token", got, ok, tt.ok)
			}
		})
	}
}
