package providertest_test

import (
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/tokenkeeper/tokenkeeper/internal/providertest"
)

const redirectURI = "https://app.example/callback"

func s256(v string) string {
	sum := sha256.Sum256([]byte(v))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// authorize runs GET /authorize with query q (client_id and redirect_uri
// filled in unless set) and returns the status and the redirect's query.
func authorize(t *testing.T, s *providertest.Server, q url.Values) (int, url.Values) {
	t.Helper()
	q = cloneValues(q)
	if !q.Has("client_id") {
		q.Set("client_id", s.Provider("fake").ClientID)
	}
	if !q.Has("redirect_uri") {
		q.Set("redirect_uri", redirectURI)
	}
	if !q.Has("response_type") {
		q.Set("response_type", "code")
	}
	resp, err := s.Client().Get(s.URL() + "/authorize?" + q.Encode())
	if err != nil {
		t.Fatalf("authorize: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusFound {
		return resp.StatusCode, nil
	}
	loc, err := url.Parse(resp.Header.Get("Location"))
	if err != nil {
		t.Fatalf("Location %q: %v", resp.Header.Get("Location"), err)
	}
	if got := loc.Scheme + "://" + loc.Host + loc.Path; got != redirectURI && q.Get("redirect_uri") == redirectURI {
		t.Fatalf("redirected to %s", got)
	}
	return resp.StatusCode, loc.Query()
}

// exchange redeems code with verifier at /token.
func exchange(t *testing.T, s *providertest.Server, code, redirect, verifier string) answer {
	t.Helper()
	params := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {redirect}}
	if verifier != "" {
		params.Set("code_verifier", verifier)
	}
	return post(t, s, "/token", params, stylePost, "providertest-secret")
}

func TestAuthorizationCodeFlow(t *testing.T) {
	t.Parallel()
	const verifier = "verifier-0123456789-0123456789-0123456789-x"
	cases := []struct {
		name      string
		challenge string
		verifier  string
		redirect  string
		ok        bool
	}{
		{"pkce", s256(verifier), verifier, redirectURI, true},
		{"no pkce", "", "", redirectURI, true},
		{"wrong verifier", s256(verifier), verifier + "y", redirectURI, false},
		{"missing verifier", s256(verifier), "", redirectURI, false},
		{"verifier without challenge", "", verifier, redirectURI, false},
		{"other redirect uri", s256(verifier), verifier, "https://evil.example/cb", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := setup(t, providertest.Options{})
			q := url.Values{"state": {"xyz"}, "scope": {"read write"}, "login_hint": {"alice"}}
			if tc.challenge != "" {
				q.Set("code_challenge", tc.challenge)
				q.Set("code_challenge_method", "S256")
			}
			status, back := authorize(t, s, q)
			if status != http.StatusFound || back.Get("state") != "xyz" || back.Get("code") == "" {
				t.Fatalf("authorize %d %v", status, back)
			}
			a := exchange(t, s, back.Get("code"), tc.redirect, tc.verifier)
			if !tc.ok {
				if a.Status != 400 || a.Error != "invalid_grant" {
					t.Errorf("exchange answered %+v, want invalid_grant", a)
				}
				return
			}
			if a.Status != 200 || a.AccessToken == "" || a.RefreshToken == "" || a.Scope != "read write" || !s.Alive(a.RefreshToken) {
				t.Fatalf("exchange answered %+v", a)
			}
			if code, id := userinfo(t, s, a.AccessToken); code != 200 || id != "alice" {
				t.Errorf("userinfo %d %q", code, id)
			}
			again := exchange(t, s, back.Get("code"), tc.redirect, tc.verifier)
			if again.Status != 400 || again.Error != "invalid_grant" || s.Alive(a.RefreshToken) {
				t.Errorf("code reuse answered %+v; grant alive %v", again, s.Alive(a.RefreshToken))
			}
		})
	}
}

func TestAuthorizeErrors(t *testing.T) {
	t.Parallel()
	s := setup(t, providertest.Options{})
	if status, _ := authorize(t, s, url.Values{"client_id": {"someone-else"}}); status != http.StatusBadRequest {
		t.Errorf("unknown client: %d", status)
	}
	if status, _ := authorize(t, s, url.Values{"redirect_uri": {"/relative"}}); status != http.StatusBadRequest {
		t.Errorf("relative redirect: %d", status)
	}
	if _, back := authorize(t, s, url.Values{"response_type": {"token"}, "state": {"s"}}); back.Get("error") != "unsupported_response_type" || back.Get("state") != "s" || back.Has("code") {
		t.Errorf("implicit flow: %v", back)
	}
	if _, back := authorize(t, s, url.Values{"code_challenge": {"abc"}, "code_challenge_method": {"plain"}}); back.Get("error") != "invalid_request" {
		t.Errorf("plain challenge: %v", back)
	}
}

func TestAuthorizationCodeExpires(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	s := setup(t, providertest.Options{Now: func() time.Time { mu.Lock(); defer mu.Unlock(); return now }})
	_, back := authorize(t, s, url.Values{})
	mu.Lock()
	now = now.Add(11 * time.Minute)
	mu.Unlock()
	if a := exchange(t, s, back.Get("code"), redirectURI, ""); a.Status != 400 || a.Error != "invalid_grant" {
		t.Errorf("expired code answered %+v", a)
	}
}
