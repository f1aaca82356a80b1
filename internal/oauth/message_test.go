package oauth_test

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tokenkeeper/tokenkeeper"
	"github.com/tokenkeeper/tokenkeeper/internal/oauth"
)

func TestParseRetryAfter(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name   string
		status int
		header string
		body   string
		want   time.Duration
	}{
		{"delta seconds", 429, "120", ``, 2 * time.Minute},
		{"http date", 503, t0.Add(90 * time.Second).Format(http.TimeFormat), ``, 90 * time.Second},
		{"past http date", 503, t0.Add(-time.Hour).Format(http.TimeFormat), ``, 0},
		{"clamped to a day", 429, "999999", ``, 24 * time.Hour},
		{"far http date clamped", 503, t0.Add(72 * time.Hour).Format(http.TimeFormat), ``, 24 * time.Hour},
		{"negative", 429, "-5", ``, 0},
		{"garbage header falls back to body", 429, "soon", `{"retry_after":1.5}`, 1500 * time.Millisecond},
		{"discord body", 429, "", `{"message":"You are being rate limited.","retry_after":64.57,"global":false}`, 64570 * time.Millisecond},
		{"header wins over body", 429, "3", `{"retry_after":60}`, 3 * time.Second},
		{"none", 503, "", ``, 0},
		{"on a permanent answer", 400, "30", `{"error":"invalid_request"}`, 30 * time.Second},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := jsonHeader()
			if tc.header != "" {
				h.Set("Retry-After", tc.header)
			}
			o := oauth.ParseTokenResponse(tc.status, h, []byte(tc.body), testProvider(), sentRT, t0)
			if o.RetryAfter != tc.want {
				t.Errorf("RetryAfter %v, want %v", o.RetryAfter, tc.want)
			}
		})
	}
}

func TestParseTokenPath(t *testing.T) {
	t.Parallel()
	p := testProvider()
	p.Refresh.TokenPath = "data.token"
	o := oauth.ParseTokenResponse(200, jsonHeader(), []byte(`{"data":{"token":{"access_token":"at","refresh_token":"rt2","expires_in":7200}},"message":"success"}`), p, sentRT, t0)
	if o.Class != tokenkeeper.ClassSuccess || o.Token.AccessToken != "at" || o.Token.RefreshToken != "rt2" || o.Token.Lifetime != 2*time.Hour {
		t.Fatalf("nested: %+v %+v", o, o.Token)
	}
	top := oauth.ParseTokenResponse(200, jsonHeader(), []byte(`{"access_token":"at"}`), p, sentRT, t0)
	if top.Code != "malformed_response" {
		t.Errorf("token at the top level with a path: code %q, want malformed_response", top.Code)
	}
	e := oauth.ParseTokenResponse(400, jsonHeader(), []byte(`{"data":{},"error":"invalid_grant","error_description":"refresh token is expired"}`), p, sentRT, t0)
	if e.Class != tokenkeeper.ClassRevoked {
		t.Errorf("top-level error with a path: class %q, want revoked", e.Class)
	}
}

func TestParseMessage(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		desc string
		want string
	}{
		{"plain", "Token has been expired or revoked.", "Token has been expired or revoked."},
		{"control characters", "line one\r\nline\ttwo\x00\x1b[31m", "line one line two [31m"},
		{"refresh token redacted", "refresh token " + sentRT + " is bad", "refresh token [REDACTED] is bad"},
		{"client secret redacted", "secret " + clientSecret + " wrong", "secret [REDACTED] wrong"},
		{"secret twice", sentRT + sentRT, "[REDACTED][REDACTED]"},
		{"truncated to 200 runes", strings.Repeat("é", 300), strings.Repeat("é", 200)},
		{"invalid utf-8", "bad \xff\xfe bytes", "bad bytes"},
		{"empty", "", "the provider refused the request"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			body := "error=invalid_grant&error_description=" + url.QueryEscape(tc.desc)
			o := oauth.ParseTokenResponse(400, http.Header{}, []byte(body), testProvider(), sentRT, t0)
			if o.Message != tc.want {
				t.Errorf("Message %q, want %q", o.Message, tc.want)
			}
		})
	}
}

func TestParseCodeSanitised(t *testing.T) {
	t.Parallel()
	cases := []struct{ code, want string }{
		{"invalid grant<script>", "invalid_grant_script_"},
		{strings.Repeat("x", 100), strings.Repeat("x", 64)},
		{"AADSTS:700082", "AADSTS:700082"},
		{sentRT, "redacted_error_code"},
	}
	for _, tc := range cases {
		t.Run(tc.want, func(t *testing.T) {
			t.Parallel()
			o := oauth.ParseTokenResponse(400, jsonHeader(), []byte(`{"error":`+strconv.Quote(tc.code)+`}`), testProvider(), sentRT, t0)
			if o.Code != tc.want {
				t.Errorf("Code %q, want %q", o.Code, tc.want)
			}
		})
	}
}
