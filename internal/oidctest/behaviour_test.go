package oidctest_test

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/tokenkeeper/tokenkeeper"
	"github.com/tokenkeeper/tokenkeeper/internal/oidctest"
)

func TestFault(t *testing.T) {
	t.Parallel()
	s := oidctest.Start(t, oidctest.Options{})
	rt := s.Grant(t, oidctest.StaticPost, "").RefreshToken
	tests := []struct {
		name       string
		status     int
		retryAfter int
		code       string // RetrieveError.ErrorCode
	}{
		{name: "rate limited", status: http.StatusTooManyRequests, retryAfter: 7, code: "rate_limited"},
		{name: "unavailable", status: http.StatusServiceUnavailable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := s.Stats(t)
			s.Fault(t, tt.status, 1, tt.retryAfter)
			_, err := refresh(t, s, oidctest.StaticPost, rt, oauth2.AuthStyleAutoDetect)
			re := wantRetrieveError(t, err, tt.status, tt.code)
			if got, want := re.Response.Header.Get("Retry-After"), retryAfter(tt.retryAfter); got != want {
				t.Errorf("Retry-After = %q, want %q", got, want)
			}
			if _, err := refresh(t, s, oidctest.StaticPost, rt, oauth2.AuthStyleAutoDetect); err != nil {
				t.Fatalf("refresh after the fault: %v", err)
			}
			after := s.Stats(t)
			if after.FaultsInjected-before.FaultsInjected != 1 || after.RefreshRequests-before.RefreshRequests != 2 ||
				after.RefreshSuccesses-before.RefreshSuccesses != 1 {
				t.Errorf("stats went from %+v to %+v", before, after)
			}
		})
	}
	t.Run("cleared", func(t *testing.T) {
		s.Fault(t, http.StatusBadGateway, 5, 0)
		s.Fault(t, http.StatusBadGateway, 0, 0)
		if _, err := refresh(t, s, oidctest.StaticPost, rt, oauth2.AuthStyleAutoDetect); err != nil {
			t.Fatalf("refresh after clearing the fault: %v", err)
		}
	})
}

func retryAfter(seconds int) string {
	if seconds == 0 {
		return ""
	}
	return strconv.Itoa(seconds)
}

func TestStrictClientAuth(t *testing.T) {
	t.Parallel()
	s := oidctest.Start(t, oidctest.Options{StrictClientAuth: true})
	wrong := map[tokenkeeper.AuthMethod]oauth2.AuthStyle{
		tokenkeeper.AuthBasic: oauth2.AuthStyleInParams,
		tokenkeeper.AuthPost:  oauth2.AuthStyleInHeader,
	}
	t.Run("clients", func(t *testing.T) {
		for _, id := range oidctest.Clients() {
			t.Run(id, func(t *testing.T) {
				t.Parallel()
				tok := s.Grant(t, id, "") // Grant authenticates with the registered style
				style := wrong[s.Provider("test", id).AuthMethod]
				_, err := refresh(t, s, id, tok.RefreshToken, style)
				wantRetrieveError(t, err, http.StatusUnauthorized, "invalid_client")
				if !s.Active(t, id, tok.RefreshToken) {
					t.Fatal("a rejected request consumed the refresh token")
				}
				if _, err := refresh(t, s, id, tok.RefreshToken, oauth2.AuthStyleAutoDetect); err != nil {
					t.Fatalf("refresh with the registered style: %v", err)
				}
			})
		}
	})
	if st := s.Stats(t); st.InvalidClient != 4 || st.RefreshSuccesses != 4 || st.ReuseDetections != 0 {
		t.Errorf("stats = %+v, want 4 invalid_client and 4 refreshes", st)
	}
}

func TestRotationGrace(t *testing.T) {
	t.Parallel()
	s := oidctest.Start(t, oidctest.Options{RotationGrace: time.Hour})
	grant := s.Grant(t, oidctest.RotatingBasic, "")
	first, err := refresh(t, s, oidctest.RotatingBasic, grant.RefreshToken, oauth2.AuthStyleAutoDetect)
	if err != nil {
		t.Fatalf("refresh: %v", err)
	}
	again, err := refresh(t, s, oidctest.RotatingBasic, grant.RefreshToken, oauth2.AuthStyleAutoDetect)
	if err != nil {
		t.Fatalf("replay inside the grace period: %v", err)
	}
	if again.RefreshToken == first.RefreshToken || again.RefreshToken == grant.RefreshToken {
		t.Error("the replay did not rotate to a new refresh token")
	}
	for _, rt := range []string{grant.RefreshToken, first.RefreshToken, again.RefreshToken} {
		if !s.Active(t, oidctest.RotatingBasic, rt) {
			t.Error("a refresh token inside the grace period is inactive")
		}
	}
	if st := s.Stats(t); st.GraceUses != 1 || st.ReuseDetections != 0 || st.RefreshSuccesses != 2 {
		t.Errorf("stats = %+v, want 1 grace use, 2 refreshes, no reuse", st)
	}
	if p := s.Provider("grace", oidctest.RotatingBasic); !p.Rotates || p.RotationGrace != time.Hour {
		t.Errorf("provider Rotates=%v RotationGrace=%v, want true and 1h", p.Rotates, p.RotationGrace)
	}
}

func TestAuthorizeForeignURL(t *testing.T) {
	t.Parallel()
	// The callback's port is only known now; AnyLoopbackPort matches it anyway.
	cb := httptest.NewServer(http.NotFoundHandler())
	t.Cleanup(cb.Close)
	s := oidctest.Start(t, oidctest.Options{
		RedirectURIs:    []string{"http://127.0.0.1/v1/oauth/callback"},
		AnyLoopbackPort: true,
	})
	redirect := cb.URL + "/v1/oauth/callback"
	conf := s.Config(oidctest.RotatingPost, redirect)
	verifier := oauth2.GenerateVerifier()
	tests := []struct {
		name  string
		url   string
		error string // the callback's error parameter; empty: a code
	}{
		{name: "pkce", url: conf.AuthCodeURL("st1", oauth2.S256ChallengeOption(verifier))},
		{name: "no pkce", url: conf.AuthCodeURL("st2"), error: "invalid_request"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := s.Authorize(t, tt.url)
			if base := (&url.URL{Scheme: got.Scheme, Host: got.Host, Path: got.Path}).String(); base != redirect {
				t.Fatalf("redirected to %s, want %s", base, redirect)
			}
			q := got.Query()
			if q.Get("error") != tt.error || (tt.error == "") != (q.Get("code") != "") {
				t.Fatalf("callback error=%q code present=%v, want error=%q", q.Get("error"), q.Has("code"), tt.error)
			}
			if tt.error == "" {
				tok, err := conf.Exchange(t.Context(), q.Get("code"), oauth2.VerifierOption(verifier))
				if err != nil || tok.RefreshToken == "" {
					t.Fatalf("exchange the callback's code: %v", err)
				}
			}
		})
	}
}

func TestProvider(t *testing.T) {
	t.Parallel()
	s := oidctest.Start(t, oidctest.Options{RefreshTokenTTL: time.Hour})
	tests := []struct {
		client  string
		method  tokenkeeper.AuthMethod
		rotates bool
	}{
		{oidctest.RotatingBasic, tokenkeeper.AuthBasic, true},
		{oidctest.RotatingPost, tokenkeeper.AuthPost, true},
		{oidctest.StaticBasic, tokenkeeper.AuthBasic, false},
		{oidctest.StaticPost, tokenkeeper.AuthPost, false},
	}
	for _, tt := range tests {
		t.Run(tt.client, func(t *testing.T) {
			t.Parallel()
			p := s.Provider("oidc", tt.client)
			if p.Name != "oidc" || p.TokenURL != s.TokenURL || p.AuthURL != s.AuthURL || p.RevokeURL != s.RevokeURL {
				t.Errorf("provider endpoints = %+v", p)
			}
			if p.AuthMethod != tt.method || p.Rotates != tt.rotates || p.PKCE != tokenkeeper.PKCERequired ||
				!p.RefreshSupported || p.RefreshTokenLifetime != time.Hour || p.RefreshTokenAbsolute == tt.rotates {
				t.Errorf("provider = %+v", p)
			}
			if p.ClientID != tt.client || p.ClientSecret.Reveal() != tt.client+"-secret" {
				t.Errorf("client credentials = %s", p.ClientID)
			}
		})
	}
}
