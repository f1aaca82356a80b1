package oauth_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/tokenkeeper/tokenkeeper"
	"github.com/tokenkeeper/tokenkeeper/internal/oauth"
)

// TestRefreshQuirks checks each RefreshQuirks field on the wire, at the server.
func TestRefreshQuirks(t *testing.T) {
	t.Parallel()
	const accessTok = "access-token-old-123"
	cases := []struct {
		name   string
		method tokenkeeper.AuthMethod
		quirks tokenkeeper.RefreshQuirks
		body   string // the server's answer; okBody when empty
		check  func(t *testing.T, req captured, o tokenkeeper.Outcome)
	}{
		{name: "URL", quirks: tokenkeeper.RefreshQuirks{URL: "/refresh_access_token"}, check: func(t *testing.T, req captured, o tokenkeeper.Outcome) {
			if req.Path != "/refresh_access_token" {
				t.Errorf("path %q", req.Path)
			}
		}},
		{name: "Method GET", quirks: tokenkeeper.RefreshQuirks{Method: "get"}, check: func(t *testing.T, req captured, o tokenkeeper.Outcome) {
			want := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {sentRT}, "client_id": {"client-id"}, "client_secret": {clientSecret}, "keep": {"1"}}
			if req.Method != http.MethodGet || req.Body != "" || req.Query.Encode() != want.Encode() {
				t.Errorf("%s query %v body %q", req.Method, req.Query, req.Body)
			}
		}},
		{name: "Body json", method: tokenkeeper.AuthBasic, quirks: tokenkeeper.RefreshQuirks{Body: "json"}, check: func(t *testing.T, req captured, o tokenkeeper.Outcome) {
			var m map[string]string
			if err := json.Unmarshal([]byte(req.Body), &m); err != nil || req.Header.Get("Content-Type") != "application/json" {
				t.Fatalf("body %q (%v) content type %q", req.Body, err, req.Header.Get("Content-Type"))
			}
			if len(m) != 2 || m["grant_type"] != "refresh_token" || m["refresh_token"] != sentRT || req.Header.Get("Authorization") == "" {
				t.Errorf("json body %v", m)
			}
		}},
		{name: "Body json with post credentials", quirks: tokenkeeper.RefreshQuirks{Body: "JSON"}, check: func(t *testing.T, req captured, o tokenkeeper.Outcome) {
			var m map[string]string
			_ = json.Unmarshal([]byte(req.Body), &m)
			if m["client_id"] != "client-id" || m["client_secret"] != clientSecret {
				t.Errorf("json body %v", m)
			}
		}},
		{name: "GrantType", quirks: tokenkeeper.RefreshQuirks{GrantType: "ig_refresh_token"}, check: func(t *testing.T, req captured, o tokenkeeper.Outcome) {
			if g := req.form(t).Get("grant_type"); g != "ig_refresh_token" {
				t.Errorf("grant_type %q", g)
			}
		}},
		{name: "ClientIDParam", quirks: tokenkeeper.RefreshQuirks{ClientIDParam: "client_key"}, check: func(t *testing.T, req captured, o tokenkeeper.Outcome) {
			f := req.form(t)
			if f.Has("client_id") || f.Get("client_key") != "client-id" || f.Get("client_secret") != clientSecret {
				t.Errorf("form %v", f)
			}
		}},
		{name: "TokenParam", quirks: tokenkeeper.RefreshQuirks{TokenParam: "rt"}, check: func(t *testing.T, req captured, o tokenkeeper.Outcome) {
			f := req.form(t)
			if f.Has("refresh_token") || f.Get("rt") != sentRT {
				t.Errorf("form %v", f)
			}
		}},
		{name: "Headers", quirks: tokenkeeper.RefreshQuirks{Headers: map[string]string{"User-Agent": "web:tk:1.0 (by /u/tk)", "Notion-Version": "2022-06-28"}}, check: func(t *testing.T, req captured, o tokenkeeper.Outcome) {
			if req.Header.Get("User-Agent") != "web:tk:1.0 (by /u/tk)" || req.Header.Get("Notion-Version") != "2022-06-28" {
				t.Errorf("headers %v", req.Header)
			}
		}},
		{name: "Params cannot override the grant", quirks: tokenkeeper.RefreshQuirks{Params: map[string]string{"audience": "api", "grant_type": "password", "refresh_token": "other"}}, check: func(t *testing.T, req captured, o tokenkeeper.Outcome) {
			f := req.form(t)
			if f.Get("audience") != "api" || f.Get("grant_type") != "refresh_token" || f.Get("refresh_token") != sentRT {
				t.Errorf("form %v", f)
			}
		}},
		{name: "ErrorIn200", quirks: tokenkeeper.RefreshQuirks{ErrorIn200: true}, body: `{"ok":false,"error":"invalid_refresh_token"}`, check: func(t *testing.T, req captured, o tokenkeeper.Outcome) {
			if o.Class != tokenkeeper.ClassRevoked || o.HTTPStatus != 200 {
				t.Errorf("outcome %+v", o)
			}
		}},
		{name: "NoExpiresIn", quirks: tokenkeeper.RefreshQuirks{NoExpiresIn: true}, body: `{"access_token":"00D!AQ","instance_url":"https://x.my.salesforce.com","issued_at":"1278448832702"}`, check: func(t *testing.T, req captured, o tokenkeeper.Outcome) {
			if o.Class != tokenkeeper.ClassSuccess || !o.Token.ExpiresAt.Equal(t0.Add(2*time.Hour)) || o.Token.Lifetime != 0 {
				t.Errorf("outcome %+v token %+v", o, o.Token)
			}
		}},
		{name: "TokenPath", quirks: tokenkeeper.RefreshQuirks{TokenPath: "data"}, body: `{"data":{"access_token":"act.1","refresh_token":"rft.2","expires_in":86400,"refresh_expires_in":31536000},"message":"success"}`, check: func(t *testing.T, req captured, o tokenkeeper.Outcome) {
			if o.Class != tokenkeeper.ClassSuccess || o.Token.AccessToken != "act.1" || !o.Rotated || !o.Token.RefreshTokenExpiresAt.Equal(t0.Add(365*24*time.Hour)) {
				t.Errorf("outcome %+v token %+v", o, o.Token)
			}
		}},
		{name: "RefreshWithAccessToken", quirks: tokenkeeper.RefreshQuirks{URL: "/refresh_access_token", Method: "GET", GrantType: "ig_refresh_token", TokenParam: "access_token", RefreshWithAccessToken: true},
			body: `{"access_token":"IGQVJ-new","token_type":"bearer","expires_in":5183944}`, check: func(t *testing.T, req captured, o tokenkeeper.Outcome) {
				want := url.Values{"grant_type": {"ig_refresh_token"}, "access_token": {accessTok}, "keep": {"1"}}
				if req.Query.Encode() != want.Encode() || req.Header.Get("Authorization") != "" {
					t.Errorf("query %v authorization %q", req.Query, req.Header.Get("Authorization"))
				}
				if o.Class != tokenkeeper.ClassSuccess || o.Token.AccessToken != "IGQVJ-new" || o.Rotated || o.Token.RefreshToken != sentRT {
					t.Errorf("outcome %+v token %+v", o, o.Token)
				}
			}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			body := tc.body
			if body == "" {
				body = okBody
			}
			rec := newRecorder(t, 200, nil, body)
			method := tc.method
			if method == "" {
				method = tokenkeeper.AuthPost
			}
			p := providerAt(rec.srv.URL, method)
			p.TokenURL += "?keep=1"
			p.AccessTokenLifetime = 2 * time.Hour
			p.Refresh = tc.quirks
			if strings.HasPrefix(p.Refresh.URL, "/") {
				p.Refresh.URL = rec.srv.URL + p.Refresh.URL + "?keep=1"
			}
			o := newClient(t, nil).Refresh(t.Context(), p, sentRT, accessTok)
			tc.check(t, rec.only(t), o)
		})
	}
}

// TestRefreshWithAccessTokenNeedsNoClient: Instagram's refresh sends no
// client credentials, so none are required.
func TestRefreshWithAccessTokenNeedsNoClient(t *testing.T) {
	t.Parallel()
	rec := newRecorder(t, 200, nil, okBody)
	p := providerAt(rec.srv.URL, "")
	p.ClientID, p.ClientSecret = "", ""
	p.Refresh = tokenkeeper.RefreshQuirks{RefreshWithAccessToken: true, TokenParam: "access_token"}
	o := newClient(t, nil).Refresh(t.Context(), p, "", "access-token-old-123")
	if o.Class != tokenkeeper.ClassSuccess || !o.Token.RefreshToken.IsZero() {
		t.Fatalf("outcome %+v", o)
	}
	if f := rec.only(t).form(t); f.Get("access_token") != "access-token-old-123" || f.Has("refresh_token") {
		t.Errorf("form %v", f)
	}
	if o := newClient(t, nil).Refresh(t.Context(), p, sentRT, ""); o.Code != "no_refresh_token" {
		t.Errorf("no access token: %+v", o)
	}
}

// TestRefreshMissingExpiryWarns: a response without a usable expiry is
// logged as a catalog problem unless the provider is known to omit it.
func TestRefreshMissingExpiryWarns(t *testing.T) {
	t.Parallel()
	for _, known := range []bool{false, true} {
		t.Run(map[bool]string{false: "unexpected", true: "NoExpiresIn"}[known], func(t *testing.T) {
			t.Parallel()
			rec := newRecorder(t, 200, nil, `{"access_token":"opaque"}`)
			var logs logBuffer
			p := providerAt(rec.srv.URL, tokenkeeper.AuthPost)
			p.Refresh.NoExpiresIn = known
			o := newClient(t, func(o *oauth.Options) { o.Logger = debugLogger(&logs) }).Refresh(t.Context(), p, sentRT, "")
			if o.Class != tokenkeeper.ClassSuccess || !o.Token.ExpiresAt.IsZero() {
				t.Fatalf("outcome %+v", o)
			}
			if warned := strings.Contains(logs.String(), "level=WARN"); warned == known {
				t.Errorf("warned %v with NoExpiresIn %v: %s", warned, known, logs.String())
			}
			if strings.Contains(logs.String(), sentRT) || strings.Contains(logs.String(), "opaque") || strings.Contains(logs.String(), clientSecret) {
				t.Errorf("log shows a secret: %s", logs.String())
			}
		})
	}
}
