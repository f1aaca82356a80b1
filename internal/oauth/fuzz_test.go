package oauth_test

import (
	"net/http"
	"strings"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/tokenkeeper/tokenkeeper"
	"github.com/tokenkeeper/tokenkeeper/internal/oauth"
)

// fuzzProvider returns the provider a fuzz input's quirk bits select:
// 1 ErrorIn200, 2 TokenPath "data", 4 a default access token lifetime.
func fuzzProvider(quirks uint8) *tokenkeeper.Provider {
	p := testProvider()
	p.Refresh.ErrorIn200 = quirks&1 != 0
	if quirks&2 != 0 {
		p.Refresh.TokenPath = "data"
	}
	if quirks&4 != 0 {
		p.AccessTokenLifetime = time.Hour
	}
	return p
}

// FuzzParseTokenResponse checks the parser's invariants on any answer: no
// panic, success only with an access token, no sent secret in the text, and
// bounded, printable Message and Code. The committed corpus in
// testdata/fuzz/FuzzParseTokenResponse holds JSON, form-encoded, HTML,
// error-in-200 and expires_in variants.
func FuzzParseTokenResponse(f *testing.F) {
	f.Add(200, "application/json", []byte(`{"access_token":"at","refresh_token":"rt","expires_in":3600}`), "old-refresh", uint8(0))
	f.Add(400, "application/json", []byte(`{"error":"invalid_grant","error_description":"RT.old-refresh revoked"}`), "old-refresh", uint8(0))
	f.Fuzz(func(t *testing.T, status int, contentType string, body []byte, sent string, quirks uint8) {
		// The prefix keeps the secret out of our own fixed messages.
		secret := tokenkeeper.Secret("RT." + sent)
		if sent == "" {
			secret = ""
		}
		h := http.Header{}
		h.Set("Content-Type", contentType)
		h.Set("Retry-After", contentType)
		o := oauth.ParseTokenResponse(status, h, body, fuzzProvider(quirks), secret, t0)

		if !o.Class.Valid() || o.HTTPStatus != status {
			t.Fatalf("class %q status %d", o.Class, o.HTTPStatus)
		}
		if o.Class == tokenkeeper.ClassSuccess {
			if o.Token == nil || o.Token.AccessToken.IsZero() || o.Code != "" {
				t.Fatalf("success without an access token: %+v", o)
			}
			if o.Rotated && o.Token.RefreshToken == secret {
				t.Fatalf("rotated to the same refresh token")
			}
			if e := o.Token.ExpiresAt; !e.IsZero() && (!e.After(t0) || e.After(t0.Add(10*365*24*time.Hour))) {
				t.Fatalf("ExpiresAt %v out of range", e)
			}
		} else if o.Token != nil || o.Code == "" || o.Message == "" {
			t.Fatalf("failure %+v", o)
		}
		if o.RetryAfter < 0 || o.RetryAfter > 24*time.Hour {
			t.Fatalf("RetryAfter %v", o.RetryAfter)
		}
		if len(sent) >= 3 && (strings.Contains(o.Message, secret.Reveal()) || strings.Contains(o.Code, secret.Reveal())) {
			t.Fatalf("outcome shows the refresh token: %+v", o)
		}
		if strings.Contains(o.Message, clientSecret) || strings.Contains(o.Code, clientSecret) {
			t.Fatalf("outcome shows the client secret: %+v", o)
		}
		if !utf8.ValidString(o.Message) || utf8.RuneCountInString(o.Message) > 200 || strings.IndexFunc(o.Message, unicode.IsControl) >= 0 {
			t.Fatalf("Message %q", o.Message)
		}
		if len(o.Code) > 64 || strings.IndexFunc(o.Code, func(r rune) bool {
			return !(r < utf8.RuneSelf && (unicode.IsLetter(r) || unicode.IsDigit(r) || strings.ContainsRune("_.:-", r)))
		}) >= 0 {
			t.Fatalf("Code %q", o.Code)
		}
	})
}

// BenchmarkParseTokenResponse measures the parser on typical answers.
func BenchmarkParseTokenResponse(b *testing.B) {
	cases := []struct {
		name   string
		status int
		ctype  string
		body   string
	}{
		{"json success", 200, "application/json", `{"access_token":"ya29.a0AfH6SMBx-very-long-access-token-value-0123456789","expires_in":3599,"refresh_token":"1//0gLongRefreshToken-0123456789","scope":"https://www.googleapis.com/auth/calendar openid","token_type":"Bearer"}`},
		{"form success", 200, "application/x-www-form-urlencoded", `access_token=ghu_16C7e42F292c6912E7710c838347Ae178B4a&expires_in=28800&refresh_token=ghr_1B4a2e77838347a7E420ce178F2E7c6912E169246c34E1ccbF66C46812d16D5B1A9Dc86A1498&refresh_token_expires_in=15811200&scope=&token_type=bearer`},
		{"json error", 400, "application/json", `{"error":"invalid_grant","error_description":"Token has been expired or revoked."}`},
		{"html 503", 503, "text/html", `<html><head><title>503 Service Unavailable</title></head><body><h1>Service Unavailable</h1></body></html>`},
	}
	p := testProvider()
	for _, tc := range cases {
		b.Run(tc.name, func(b *testing.B) {
			h := http.Header{"Content-Type": {tc.ctype}}
			body := []byte(tc.body)
			b.ReportAllocs()
			b.SetBytes(int64(len(body)))
			for b.Loop() {
				_ = oauth.ParseTokenResponse(tc.status, h, body, p, sentRT, t0)
			}
		})
	}
}
