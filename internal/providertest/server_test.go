package providertest_test

import (
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tokenkeeper/tokenkeeper"
	"github.com/tokenkeeper/tokenkeeper/internal/providertest"
)

func TestGrantAndProvider(t *testing.T) {
	t.Parallel()
	now := time.Date(2030, 5, 6, 7, 8, 9, 0, time.UTC)
	s := setup(t, providertest.Options{AuthMethod: tokenkeeper.AuthBasic, ClientID: "cid", ClientSecret: "csecret", Rotate: true, AccessTokenTTL: 5 * time.Minute, Now: func() time.Time { return now }})
	tok := s.Grant("a", "b")
	if tok.AccessToken.IsZero() || tok.RefreshToken.IsZero() || tok.TokenType != "Bearer" || !tok.ExpiresAt.Equal(now.Add(5*time.Minute)) || tok.Lifetime != 5*time.Minute || strings.Join(tok.Scopes, " ") != "a b" {
		t.Errorf("grant %+v", tok)
	}
	if other := s.Grant(); other.RefreshToken == tok.RefreshToken || other.AccessToken == tok.AccessToken {
		t.Errorf("two grants share tokens")
	}
	p := s.Provider("acme")
	if p.Name != "acme" || p.TokenURL != s.URL()+"/token" || p.AuthURL != s.URL()+"/authorize" || p.RevokeURL != s.URL()+"/revoke" ||
		p.AccountURL != s.URL()+"/userinfo" || p.AuthMethod != tokenkeeper.AuthBasic || p.ClientID != "cid" || p.ClientSecret != "csecret" ||
		!p.Rotates || !p.RefreshSupported || p.AccessTokenLifetime != 5*time.Minute {
		t.Errorf("provider %+v", p)
	}
	if code, id := userinfo(t, s, tok.AccessToken.Reveal()); code != 200 || id == "" {
		t.Errorf("userinfo %d %q", code, id)
	}
	if !s.Alive(tok.RefreshToken.Reveal()) || s.Alive("unknown") {
		t.Errorf("Alive")
	}
}

func TestRefresh(t *testing.T) {
	t.Parallel()
	clock := struct {
		sync.Mutex
		t time.Time
	}{t: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)}
	now := func() time.Time { clock.Lock(); defer clock.Unlock(); return clock.t }
	s := setup(t, providertest.Options{AccessTokenTTL: time.Hour, Now: now})
	tok := s.Grant("read")
	a := refresh(t, s, tok.RefreshToken.Reveal())
	if a.Status != 200 || a.AccessToken == "" || a.AccessToken == tok.AccessToken.Reveal() || a.RefreshToken != "" || a.ExpiresIn != 3600 || a.Scope != "read" || a.TokenType != "Bearer" {
		t.Fatalf("answer %+v", a)
	}
	if code, _ := userinfo(t, s, tok.AccessToken.Reveal()); code != 401 {
		t.Errorf("replaced access token still works: %d", code)
	}
	if code, _ := userinfo(t, s, a.AccessToken); code != 200 {
		t.Errorf("new access token rejected: %d", code)
	}
	clock.Lock()
	clock.t = clock.t.Add(time.Hour + time.Second)
	clock.Unlock()
	if code, _ := userinfo(t, s, a.AccessToken); code != 401 {
		t.Errorf("expired access token accepted: %d", code)
	}
	if b := refresh(t, s, tok.RefreshToken.Reveal()); b.Status != 200 {
		t.Errorf("non-rotating refresh token stopped working: %+v", b)
	}
	if u := refresh(t, s, "rt_unknown"); u.Status != 400 || u.Error != "invalid_grant" || u.Description != "grant revoked" {
		t.Errorf("unknown refresh token: %+v", u)
	}
	if s.Refreshes() != 3 || s.RefreshesOf(tok.RefreshToken.Reveal()) != 2 || s.RefreshesOf("rt_unknown") != 1 || s.Reuses() != 0 {
		t.Errorf("counters: refreshes %d of %d reuses %d", s.Refreshes(), s.RefreshesOf(tok.RefreshToken.Reveal()), s.Reuses())
	}
	if bad := post(t, s, "/token", url.Values{"grant_type": {"password"}}, stylePost, "providertest-secret"); bad.Status != 400 || bad.Error != "unsupported_grant_type" {
		t.Errorf("password grant: %+v", bad)
	}
}

func TestRotationAndReuse(t *testing.T) {
	t.Parallel()
	for _, detect := range []bool{false, true} {
		t.Run(map[bool]string{false: "rotation", true: "reuse detection"}[detect], func(t *testing.T) {
			t.Parallel()
			s := setup(t, providertest.Options{Rotate: true, ReuseDetection: detect})
			old := s.Grant().RefreshToken.Reveal()
			a := refresh(t, s, old)
			if a.Status != 200 || a.RefreshToken == "" || a.RefreshToken == old || s.Current(old) != a.RefreshToken {
				t.Fatalf("answer %+v", a)
			}
			replay := refresh(t, s, old)
			if replay.Status != 400 || replay.Error != "invalid_grant" {
				t.Fatalf("replay answered %+v", replay)
			}
			if s.Reuses() != 1 {
				t.Errorf("Reuses %d, want 1", s.Reuses())
			}
			newest := refresh(t, s, a.RefreshToken)
			if detect {
				if newest.Status != 400 || newest.Error != "invalid_grant" || s.Alive(a.RefreshToken) || s.Alive(old) {
					t.Errorf("after a replay the grant lives on: %+v", newest)
				}
				return
			}
			if newest.Status != 200 || !s.Alive(old) {
				t.Errorf("without reuse detection the newest token died: %+v", newest)
			}
		})
	}
}

func TestClientAuthentication(t *testing.T) {
	t.Parallel()
	cases := []struct {
		server tokenkeeper.AuthMethod
		style  style
		secret string
		status int
	}{
		{tokenkeeper.AuthPost, stylePost, "providertest-secret", 200},
		{tokenkeeper.AuthPost, styleBasic, "providertest-secret", 401},
		{tokenkeeper.AuthPost, styleBoth, "providertest-secret", 401},
		{tokenkeeper.AuthPost, styleNone, "", 401},
		{tokenkeeper.AuthPost, stylePost, "wrong", 401},
		{tokenkeeper.AuthBasic, styleBasic, "providertest-secret", 200},
		{tokenkeeper.AuthBasic, stylePost, "providertest-secret", 401},
		{tokenkeeper.AuthBasic, styleBoth, "providertest-secret", 401},
		{tokenkeeper.AuthBasic, styleNone, "", 401},
		{tokenkeeper.AuthBasic, styleBasic, "wrong", 401},
	}
	for _, tc := range cases {
		name := string(tc.server) + " server, " + []string{"post", "basic", "both", "none"}[tc.style] + " client, secret " + tc.secret
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			s := setup(t, providertest.Options{AuthMethod: tc.server})
			rt := s.Grant().RefreshToken.Reveal()
			for _, path := range []string{"/token", "/revoke"} {
				params := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}, "token": {"unknown"}}
				a := post(t, s, path, params, tc.style, tc.secret)
				if a.Status != tc.status || (tc.status == 401 && a.Error != "invalid_client") {
					t.Errorf("%s answered %+v, want %d", path, a, tc.status)
				}
			}
			if s.Refreshes() != 1 {
				t.Errorf("Refreshes %d: failed authentication must count", s.Refreshes())
			}
		})
	}
}

func TestRevocation(t *testing.T) {
	t.Parallel()
	s := setup(t, providertest.Options{})
	byRefresh, byAccess, other := s.Grant(), s.Grant(), s.Grant()
	for _, tok := range []string{byRefresh.RefreshToken.Reveal(), byAccess.AccessToken.Reveal(), "never-issued"} {
		if a := post(t, s, "/revoke", url.Values{"token": {tok}}, stylePost, "providertest-secret"); a.Status != 200 {
			t.Errorf("revoke answered %+v", a)
		}
	}
	if s.Alive(byRefresh.RefreshToken.Reveal()) || s.Alive(byAccess.RefreshToken.Reveal()) || !s.Alive(other.RefreshToken.Reveal()) {
		t.Errorf("alive: %v %v %v", s.Alive(byRefresh.RefreshToken.Reveal()), s.Alive(byAccess.RefreshToken.Reveal()), s.Alive(other.RefreshToken.Reveal()))
	}
	if a := refresh(t, s, byRefresh.RefreshToken.Reveal()); a.Status != 400 || a.Error != "invalid_grant" || a.Description != "grant revoked" {
		t.Errorf("refresh after revocation: %+v", a)
	}
	if a := post(t, s, "/revoke", url.Values{}, stylePost, "providertest-secret"); a.Status != 400 || a.Error != "invalid_request" {
		t.Errorf("revoke without token: %+v", a)
	}
	if s.Revocations() != 4 {
		t.Errorf("Revocations %d, want 4", s.Revocations())
	}
	if !s.RevokeGrant(other.RefreshToken.Reveal()) || s.Alive(other.RefreshToken.Reveal()) || s.RevokeGrant("unknown") {
		t.Errorf("RevokeGrant")
	}
	if code, _ := userinfo(t, s, other.AccessToken.Reveal()); code != 401 {
		t.Errorf("access token of a revoked grant accepted: %d", code)
	}
}

func TestRequestsCounter(t *testing.T) {
	t.Parallel()
	s := setup(t, providertest.Options{})
	rt := s.Grant().RefreshToken.Reveal()
	refresh(t, s, rt)
	userinfo(t, s, "x")
	resp, err := s.Client().Get(s.URL() + "/nowhere")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound || s.Requests() != 3 {
		t.Errorf("status %d requests %d", resp.StatusCode, s.Requests())
	}
}
