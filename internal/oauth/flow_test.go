package oauth_test

import (
	"encoding/base64"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/tokenkeeper/tokenkeeper"
	"github.com/tokenkeeper/tokenkeeper/internal/oauth"
	"github.com/tokenkeeper/tokenkeeper/internal/providertest"
)

func TestExchangeConnectFlow(t *testing.T) {
	t.Parallel()
	fake := providertest.New(providertest.Options{AuthMethod: tokenkeeper.AuthBasic})
	t.Cleanup(fake.Close)
	p := fake.Provider("fake")
	c := newClient(t, nil)
	const redirect = "https://app.example/callback?x=1"

	authorize := func(t *testing.T, challenge string) string {
		t.Helper()
		u := c.AuthCodeURL(p, redirect, "state-123", challenge, []string{"read", "write"})
		resp, err := fake.Client().Get(u)
		if err != nil {
			t.Fatalf("authorize: %v", err)
		}
		resp.Body.Close()
		loc, err := url.Parse(resp.Header.Get("Location"))
		if err != nil || resp.StatusCode != http.StatusFound {
			t.Fatalf("authorize answered %d %q", resp.StatusCode, resp.Header.Get("Location"))
		}
		q := loc.Query()
		if q.Get("state") != "state-123" || q.Get("code") == "" || q.Get("x") != "1" {
			t.Fatalf("callback query %v", q)
		}
		return q.Get("code")
	}

	t.Run("pkce", func(t *testing.T) {
		t.Parallel()
		v := oauth.NewVerifier()
		code := authorize(t, oauth.Challenge(v))
		o := c.Exchange(t.Context(), p, code, redirect, v)
		if o.Class != tokenkeeper.ClassSuccess || o.Token.RefreshToken.IsZero() || o.Rotated {
			t.Fatalf("exchange %+v", o)
		}
		if strings.Join(o.Token.Scopes, " ") != "read write" {
			t.Errorf("scopes %q", o.Token.Scopes)
		}
		again := c.Exchange(t.Context(), p, code, redirect, v)
		if again.Class == tokenkeeper.ClassSuccess || again.Code != "invalid_grant" {
			t.Errorf("second exchange of one code: %+v", again)
		}
	})
	t.Run("wrong verifier", func(t *testing.T) {
		t.Parallel()
		code := authorize(t, oauth.Challenge(oauth.NewVerifier()))
		o := c.Exchange(t.Context(), p, code, redirect, oauth.NewVerifier())
		if o.Class != tokenkeeper.ClassPermanent || o.Code != "invalid_grant" || strings.Contains(o.Message, code) {
			t.Fatalf("exchange %+v", o)
		}
	})
	t.Run("no pkce", func(t *testing.T) {
		t.Parallel()
		code := authorize(t, "")
		if o := c.Exchange(t.Context(), p, code, redirect, ""); o.Class != tokenkeeper.ClassSuccess {
			t.Fatalf("exchange %+v", o)
		}
	})
}

func TestExchangeRequest(t *testing.T) {
	t.Parallel()
	rec := newRecorder(t, 200, nil, `{"access_token":"at","refresh_token":"rt"}`)
	p := providerAt(rec.srv.URL, tokenkeeper.AuthPost)
	p.Refresh.ClientIDParam = "client_key"
	p.Refresh.Params = map[string]string{"only": "refresh"}
	p.Refresh.GrantType = "ig_refresh_token"
	o := newClient(t, nil).Exchange(t.Context(), p, "code-1", "https://app/cb", "verifier-1")
	if o.Class != tokenkeeper.ClassSuccess {
		t.Fatalf("outcome %+v", o)
	}
	form := rec.only(t).form(t)
	want := url.Values{"grant_type": {"authorization_code"}, "code": {"code-1"}, "redirect_uri": {"https://app/cb"},
		"code_verifier": {"verifier-1"}, "client_key": {"client-id"}, "client_secret": {clientSecret}}
	if form.Encode() != want.Encode() {
		t.Errorf("form %v, want %v", form, want)
	}
}

func TestAuthCodeURL(t *testing.T) {
	t.Parallel()
	c := newClient(t, nil)
	p := providerAt("https://id.example", tokenkeeper.AuthBasic)
	p.AuthURL = "https://id.example/authorize?audience=api"
	p.AuthParams = map[string]string{"access_type": "offline", "prompt": "consent", "state": "hijack", "client_id": "hijack"}
	p.ScopeSeparator = ","
	p.Scopes = []string{"default"}
	u, err := url.Parse(c.AuthCodeURL(p, "https://app/cb", "st", "chal", []string{"a", "b"}))
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	want := url.Values{"audience": {"api"}, "response_type": {"code"}, "client_id": {"client-id"}, "redirect_uri": {"https://app/cb"},
		"state": {"st"}, "scope": {"a,b"}, "access_type": {"offline"}, "prompt": {"consent"},
		"code_challenge": {"chal"}, "code_challenge_method": {"S256"}}
	if q.Encode() != want.Encode() || u.Host != "id.example" || u.Path != "/authorize" {
		t.Errorf("url %s\nquery %v\nwant  %v", u, q, want)
	}

	p.Refresh.ClientIDParam = "client_key"
	p.ScopeSeparator = ""
	q2, _ := url.ParseQuery(strings.SplitN(c.AuthCodeURL(p, "https://app/cb", "st", "", nil), "?", 2)[1])
	if q2.Has("client_id") || q2.Get("client_key") != "client-id" || q2.Get("scope") != "default" || q2.Has("code_challenge") {
		t.Errorf("renamed client id, default scopes, no challenge: %v", q2)
	}
	if c.AuthCodeURL(nil, "", "", "", nil) != "" {
		t.Errorf("nil provider gave a URL")
	}
}

func TestVerifierAndChallenge(t *testing.T) {
	t.Parallel()
	v1, v2 := oauth.NewVerifier(), oauth.NewVerifier()
	if v1 == v2 || len(v1) != 43 {
		t.Fatalf("verifiers %q %q", v1, v2)
	}
	// RFC 7636 appendix B.
	if got := oauth.Challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"); got != "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM" {
		t.Errorf("Challenge = %q", got)
	}
	if _, err := base64.RawURLEncoding.DecodeString(oauth.Challenge(v1)); err != nil {
		t.Errorf("challenge is not base64url: %v", err)
	}
}

func TestRevoke(t *testing.T) {
	t.Parallel()
	t.Run("revokes the grant", func(t *testing.T) {
		t.Parallel()
		fake := providertest.New(providertest.Options{AuthMethod: tokenkeeper.AuthBasic})
		t.Cleanup(fake.Close)
		tok := fake.Grant()
		o := newClient(t, nil).Revoke(t.Context(), fake.Provider("fake"), tok.RefreshToken, "refresh_token")
		if o.Class != tokenkeeper.ClassSuccess || o.HTTPStatus != 200 {
			t.Fatalf("outcome %+v", o)
		}
		if fake.Alive(tok.RefreshToken.Reveal()) || fake.Revocations() != 1 {
			t.Errorf("alive %v revocations %d", fake.Alive(tok.RefreshToken.Reveal()), fake.Revocations())
		}
	})
	t.Run("request", func(t *testing.T) {
		t.Parallel()
		rec := newRecorder(t, 200, nil, ``)
		p := providerAt(rec.srv.URL, tokenkeeper.AuthPost)
		p.Refresh.Headers = map[string]string{"User-Agent": "ua/1"}
		if o := newClient(t, nil).Revoke(t.Context(), p, "tok-123456", "access_token"); o.Class != tokenkeeper.ClassSuccess {
			t.Fatalf("outcome %+v", o)
		}
		req := rec.only(t)
		want := url.Values{"token": {"tok-123456"}, "token_type_hint": {"access_token"}, "client_id": {"client-id"}, "client_secret": {clientSecret}}
		if req.Path != "/revoke" || req.form(t).Encode() != want.Encode() || req.Header.Get("User-Agent") != "ua/1" {
			t.Errorf("request %+v", req)
		}
	})
	cases := []struct {
		name   string
		status int
		header http.Header
		body   string
		class  tokenkeeper.Class
		code   string
		retry  time.Duration
	}{
		{"503 retry later", 503, http.Header{"Retry-After": {"7"}}, ``, tokenkeeper.ClassTransient, "http_503", 7 * time.Second},
		{"invalid_client", 401, nil, `{"error":"invalid_client"}`, tokenkeeper.ClassConfig, "invalid_client", 0},
		{"unsupported_token_type", 400, nil, `{"error":"unsupported_token_type"}`, tokenkeeper.ClassPermanent, "unsupported_token_type", 0},
		{"redirect", 302, http.Header{"Location": {"/elsewhere"}}, ``, tokenkeeper.ClassTransient, "redirect", 0},
		{"200 with any body", 200, nil, `<html>ok</html>`, tokenkeeper.ClassSuccess, "", 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			rec := newRecorder(t, tc.status, tc.header, tc.body)
			o := newClient(t, nil).Revoke(t.Context(), providerAt(rec.srv.URL, tokenkeeper.AuthPost), "tok-123456", "")
			if o.Class != tc.class || o.Code != tc.code || o.RetryAfter != tc.retry {
				t.Errorf("outcome %+v", o)
			}
			if len(rec.requests()) != 1 {
				t.Errorf("%d requests", len(rec.requests()))
			}
		})
	}
	t.Run("no revocation endpoint", func(t *testing.T) {
		t.Parallel()
		p := providerAt("http://127.0.0.1:1", tokenkeeper.AuthPost)
		p.RevokeURL = ""
		o := newClient(t, nil).Revoke(t.Context(), p, "tok-123456", "")
		if o.Class != tokenkeeper.ClassPermanent || o.Code != "revocation_unsupported" {
			t.Errorf("outcome %+v", o)
		}
	})
}
