package oauth_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/tokenkeeper/tokenkeeper"
	"github.com/tokenkeeper/tokenkeeper/internal/oauth"
	"github.com/tokenkeeper/tokenkeeper/internal/providertest"
)

const okBody = `{"access_token":"at-new","token_type":"Bearer","expires_in":3600}`

func TestRefreshAuthStyles(t *testing.T) {
	t.Parallel()
	// Characters that RFC 6749 §2.3.1 form-encoding changes.
	const id, secret = "client id/ä", "s3cr:t+&=%"
	t.Run("basic", func(t *testing.T) {
		t.Parallel()
		rec := newRecorder(t, 200, nil, okBody)
		p := providerAt(rec.srv.URL, tokenkeeper.AuthBasic)
		p.ClientID, p.ClientSecret = id, secret
		if o := newClient(t, nil).Refresh(t.Context(), p, sentRT, ""); o.Class != tokenkeeper.ClassSuccess {
			t.Fatalf("outcome %+v", o)
		}
		req := rec.only(t)
		user, pass, ok := (&http.Request{Header: req.Header}).BasicAuth()
		if !ok {
			t.Fatalf("no Basic Authorization header: %q", req.Header.Get("Authorization"))
		}
		if user != url.QueryEscape(id) || pass != url.QueryEscape(secret) {
			t.Errorf("Basic credentials %q:%q are not form-encoded id and secret", user, pass)
		}
		form := req.form(t)
		if form.Has("client_id") || form.Has("client_secret") {
			t.Errorf("basic style also sent credentials in the body: %v", form)
		}
		if form.Get("grant_type") != "refresh_token" || form.Get("refresh_token") != sentRT {
			t.Errorf("form %v", form)
		}
		if req.Method != http.MethodPost || req.Header.Get("Content-Type") != "application/x-www-form-urlencoded" {
			t.Errorf("method %s content type %q", req.Method, req.Header.Get("Content-Type"))
		}
	})
	t.Run("post", func(t *testing.T) {
		t.Parallel()
		rec := newRecorder(t, 200, nil, okBody)
		p := providerAt(rec.srv.URL, tokenkeeper.AuthPost)
		p.ClientID, p.ClientSecret = id, secret
		if o := newClient(t, nil).Refresh(t.Context(), p, sentRT, ""); o.Class != tokenkeeper.ClassSuccess {
			t.Fatalf("outcome %+v", o)
		}
		req := rec.only(t)
		if h := req.Header.Get("Authorization"); h != "" {
			t.Errorf("post style sent Authorization %q", h)
		}
		form := req.form(t)
		if form.Get("client_id") != id || form.Get("client_secret") != secret {
			t.Errorf("form credentials %v", form)
		}
		if req.Header.Get("Accept") != "application/json" || req.Header.Get("User-Agent") != oauth.DefaultUserAgent {
			t.Errorf("headers %v", req.Header)
		}
	})
}

// TestRefreshOneRequestOnInvalidClient: a style the provider rejects is not
// retried with the other style (x/oauth2's auto-detection would).
func TestRefreshOneRequestOnInvalidClient(t *testing.T) {
	t.Parallel()
	cases := []struct{ server, client tokenkeeper.AuthMethod }{
		{tokenkeeper.AuthBasic, tokenkeeper.AuthPost},
		{tokenkeeper.AuthPost, tokenkeeper.AuthBasic},
	}
	for _, tc := range cases {
		t.Run("server "+string(tc.server), func(t *testing.T) {
			t.Parallel()
			fake := providertest.New(providertest.Options{AuthMethod: tc.server})
			t.Cleanup(fake.Close)
			tok := fake.Grant("read")
			p := fake.Provider("fake")
			p.AuthMethod = tc.client
			o := newClient(t, nil).Refresh(t.Context(), p, tok.RefreshToken, tok.AccessToken)
			if o.Class != tokenkeeper.ClassConfig || o.Code != "invalid_client" || o.HTTPStatus != 401 {
				t.Fatalf("outcome %+v, want config invalid_client 401", o)
			}
			if n := fake.Requests(); n != 1 {
				t.Errorf("server received %d requests, want 1", n)
			}
			if n := fake.RefreshesOf(tok.RefreshToken.Reveal()); n != 1 {
				t.Errorf("refresh token presented %d times, want 1", n)
			}
		})
	}
}

func TestRefreshNothingSent(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name  string
		mod   func(p *tokenkeeper.Provider)
		rt    tokenkeeper.Secret
		class tokenkeeper.Class
		code  string
	}{
		{"missing client secret", func(p *tokenkeeper.Provider) { p.ClientSecret = "" }, sentRT, tokenkeeper.ClassConfig, "missing_client_credentials"},
		{"missing client id", func(p *tokenkeeper.Provider) { p.ClientID = "" }, sentRT, tokenkeeper.ClassConfig, "missing_client_credentials"},
		{"missing secret with basic", func(p *tokenkeeper.Provider) { p.AuthMethod, p.ClientSecret = tokenkeeper.AuthBasic, "" }, sentRT, tokenkeeper.ClassConfig, "missing_client_credentials"},
		{"unknown auth method", func(p *tokenkeeper.Provider) { p.AuthMethod = "auto" }, sentRT, tokenkeeper.ClassConfig, "invalid_auth_method"},
		{"empty auth method", func(p *tokenkeeper.Provider) { p.AuthMethod = "" }, sentRT, tokenkeeper.ClassConfig, "invalid_auth_method"},
		{"no token url", func(p *tokenkeeper.Provider) { p.TokenURL = "" }, sentRT, tokenkeeper.ClassConfig, "invalid_token_url"},
		{"relative token url", func(p *tokenkeeper.Provider) { p.TokenURL = "/token" }, sentRT, tokenkeeper.ClassConfig, "invalid_token_url"},
		{"ftp token url", func(p *tokenkeeper.Provider) { p.TokenURL = "ftp://x/token" }, sentRT, tokenkeeper.ClassConfig, "invalid_token_url"},
		{"bad method", func(p *tokenkeeper.Provider) { p.Refresh.Method = "PUT" }, sentRT, tokenkeeper.ClassConfig, "invalid_refresh_method"},
		{"bad body", func(p *tokenkeeper.Provider) { p.Refresh.Body = "xml" }, sentRT, tokenkeeper.ClassConfig, "invalid_refresh_body"},
		{"no refresh token", nil, "", tokenkeeper.ClassPermanent, "no_refresh_token"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			rec := newRecorder(t, 200, nil, okBody)
			p := providerAt(rec.srv.URL, tokenkeeper.AuthPost)
			if tc.mod != nil {
				tc.mod(p)
			}
			o := newClient(t, nil).Refresh(t.Context(), p, tc.rt, "at-old")
			if o.Class != tc.class || o.Code != tc.code || o.Message == "" {
				t.Fatalf("outcome %+v, want %s %s with a message", o, tc.class, tc.code)
			}
			if n := len(rec.requests()); n != 0 {
				t.Errorf("%d requests sent, want none", n)
			}
		})
	}
	if o := newClient(t, nil).Refresh(t.Context(), nil, sentRT, ""); o.Class != tokenkeeper.ClassConfig {
		t.Errorf("nil provider: %+v", o)
	}
}

func TestRefreshKeepsOrRotates(t *testing.T) {
	t.Parallel()
	for _, rotate := range []bool{false, true} {
		name := map[bool]string{false: "no rotation", true: "rotation"}[rotate]
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			fake := providertest.New(providertest.Options{Rotate: rotate, AccessTokenTTL: 30 * time.Minute})
			t.Cleanup(fake.Close)
			tok := fake.Grant("read", "write")
			o := newClient(t, nil).Refresh(t.Context(), fake.Provider("fake"), tok.RefreshToken, tok.AccessToken)
			if o.Class != tokenkeeper.ClassSuccess {
				t.Fatalf("outcome %+v", o)
			}
			got := o.Token
			if got.AccessToken.IsZero() || got.AccessToken == tok.AccessToken {
				t.Errorf("access token not renewed")
			}
			if o.Rotated != rotate || (got.RefreshToken == tok.RefreshToken) == rotate {
				t.Errorf("rotated %v refresh token changed %v, want %v", o.Rotated, got.RefreshToken != tok.RefreshToken, rotate)
			}
			if got.Lifetime != 30*time.Minute || !got.ExpiresAt.Equal(t0.Add(30*time.Minute)) {
				t.Errorf("lifetime %v expires %v", got.Lifetime, got.ExpiresAt)
			}
			if strings.Join(got.Scopes, " ") != "read write" {
				t.Errorf("scopes %q", got.Scopes)
			}
			if !fake.Alive(got.RefreshToken.Reveal()) {
				t.Errorf("the grant died")
			}
		})
	}
}

// TestRefreshRevokedGrant: the fake's answers for a dead grant are classified
// as revoked, and one replay kills a grant with reuse detection.
func TestRefreshRevokedGrant(t *testing.T) {
	t.Parallel()
	fake := providertest.New(providertest.Options{Rotate: true, ReuseDetection: true})
	t.Cleanup(fake.Close)
	c := newClient(t, nil)
	p := fake.Provider("fake")

	old := fake.Grant()
	o := c.Refresh(t.Context(), p, old.RefreshToken, old.AccessToken)
	if o.Class != tokenkeeper.ClassSuccess || !o.Rotated {
		t.Fatalf("first refresh %+v", o)
	}
	replay := c.Refresh(t.Context(), p, old.RefreshToken, old.AccessToken)
	if replay.Class != tokenkeeper.ClassRevoked || replay.Code != "invalid_grant" || replay.HTTPStatus != 400 {
		t.Errorf("replay %+v", replay)
	}
	if fake.Alive(o.Token.RefreshToken.Reveal()) || fake.Reuses() != 1 {
		t.Errorf("grant alive %v reuses %d", fake.Alive(o.Token.RefreshToken.Reveal()), fake.Reuses())
	}

	other := fake.Grant()
	fake.RevokeGrant(other.RefreshToken.Reveal())
	if r := c.Refresh(t.Context(), p, other.RefreshToken, ""); r.Class != tokenkeeper.ClassRevoked {
		t.Errorf("revoked at the provider: %+v", r)
	}
}
