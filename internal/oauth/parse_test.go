package oauth_test

import (
	"encoding/base64"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tokenkeeper/tokenkeeper"
	"github.com/tokenkeeper/tokenkeeper/internal/oauth"
)

var t0 = time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)

const (
	sentRT       = "rt-sent-0123456789"
	clientSecret = "client-secret-abcdef"
)

func testProvider() *tokenkeeper.Provider {
	return &tokenkeeper.Provider{Name: "acme", ClientID: "client-id", ClientSecret: clientSecret, AuthMethod: tokenkeeper.AuthPost}
}

func jsonHeader() http.Header { return http.Header{"Content-Type": {"application/json"}} }

// TestParseClassification walks every HTTP row of the package's classification table.
func TestParseClassification(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name   string
		status int
		header http.Header
		body   string
		class  tokenkeeper.Class
		code   string
	}{
		{"success", 200, jsonHeader(), `{"access_token":"at","token_type":"Bearer"}`, tokenkeeper.ClassSuccess, ""},
		{"success 201", 201, jsonHeader(), `{"access_token":"at"}`, tokenkeeper.ClassSuccess, ""},
		{"200 without access_token", 200, jsonHeader(), `{"token_type":"Bearer"}`, tokenkeeper.ClassTransient, "malformed_response"},
		{"200 empty access_token", 200, jsonHeader(), `{"access_token":""}`, tokenkeeper.ClassTransient, "malformed_response"},
		{"200 html", 200, http.Header{"Content-Type": {"text/html"}}, `<html><body>Maintenance</body></html>`, tokenkeeper.ClassTransient, "malformed_response"},
		{"200 garbage", 200, nil, "\x00\x01garbage", tokenkeeper.ClassTransient, "malformed_response"},
		{"200 empty", 200, nil, ``, tokenkeeper.ClassTransient, "malformed_response"},
		{"200 json array", 200, jsonHeader(), `[{"access_token":"at"}]`, tokenkeeper.ClassTransient, "malformed_response"},
		{"200 truncated json", 200, jsonHeader(), `{"access_token":"at"`, tokenkeeper.ClassTransient, "malformed_response"},
		{"200 github bad_refresh_token", 200, jsonHeader(), `{"error":"bad_refresh_token","error_description":"The refresh token passed is incorrect or expired."}`, tokenkeeper.ClassRevoked, "bad_refresh_token"},
		{"200 error with access_token", 200, jsonHeader(), `{"access_token":"at","error":"invalid_grant","error_description":"Token has been expired or revoked."}`, tokenkeeper.ClassRevoked, "invalid_grant"},
		{"200 incorrect_client_credentials", 200, nil, `error=incorrect_client_credentials&error_description=The+client_id+and%2For+client_secret+passed+are+incorrect.`, tokenkeeper.ClassConfig, "incorrect_client_credentials"},
		{"301 redirect", 301, http.Header{"Location": {"https://elsewhere.example/"}}, ``, tokenkeeper.ClassTransient, "redirect"},
		{"307 redirect with token body", 307, jsonHeader(), `{"access_token":"at"}`, tokenkeeper.ClassTransient, "redirect"},
		{"408", 408, nil, ``, tokenkeeper.ClassTransient, "http_408"},
		{"429", 429, nil, `{"error":"invalid_grant"}`, tokenkeeper.ClassTransient, "http_429"},
		{"500 html", 500, http.Header{"Content-Type": {"text/html"}}, `<h1>500</h1>`, tokenkeeper.ClassTransient, "http_500"},
		{"502", 502, nil, `Bad Gateway`, tokenkeeper.ClassTransient, "http_502"},
		{"503", 503, nil, ``, tokenkeeper.ClassTransient, "http_503"},
		{"599", 599, nil, ``, tokenkeeper.ClassTransient, "http_599"},
		{"invalid_grant oidc-provider", 400, jsonHeader(), `{"error":"invalid_grant","error_description":"grant request is invalid"}`, tokenkeeper.ClassRevoked, "invalid_grant"},
		{"invalid_grant google", 400, jsonHeader(), `{"error":"invalid_grant","error_description":"Token has been expired or revoked."}`, tokenkeeper.ClassRevoked, "invalid_grant"},
		{"invalid_grant discord", 400, jsonHeader(), `{"error":"invalid_grant","error_description":"Invalid \"refresh_token\" in request"}`, tokenkeeper.ClassRevoked, "invalid_grant"},
		{"invalid_grant not found", 400, jsonHeader(), `{"error":"invalid_grant","error_description":"refresh token not found"}`, tokenkeeper.ClassRevoked, "invalid_grant"},
		{"invalid_grant malformed", 400, jsonHeader(), `{"error":"invalid_grant","error_description":"Malformed token"}`, tokenkeeper.ClassRevoked, "invalid_grant"},
		{"invalid_grant bad", 400, jsonHeader(), `{"error":"invalid_grant","error_description":"Bad refresh token"}`, tokenkeeper.ClassRevoked, "invalid_grant"},
		{"invalid_grant atlassian 403", 403, jsonHeader(), `{"error":"invalid_grant","error_description":"Unknown or invalid refresh token."}`, tokenkeeper.ClassRevoked, "invalid_grant"},
		{"invalid_grant upper case code", 400, jsonHeader(), `{"error":"INVALID_GRANT","error_description":"revoked"}`, tokenkeeper.ClassRevoked, "INVALID_GRANT"},
		{"invalid_grant without description", 400, jsonHeader(), `{"error":"invalid_grant"}`, tokenkeeper.ClassPermanent, "invalid_grant"},
		{"invalid_grant unknown reason", 400, jsonHeader(), `{"error":"invalid_grant","error_description":"AADSTS65001: The user or administrator has not consented"}`, tokenkeeper.ClassPermanent, "invalid_grant"},
		{"invalid_grant microsoft loop", 400, jsonHeader(), `{"error":"invalid_grant","error_description":"AADSTS50196: The server terminated an operation because it encountered a client request loop."}`, tokenkeeper.ClassTransient, "invalid_grant"},
		{"invalid_refresh_token", 400, jsonHeader(), `{"error":"invalid_refresh_token"}`, tokenkeeper.ClassRevoked, "invalid_refresh_token"},
		{"token_revoked in 200", 200, jsonHeader(), `{"ok":false,"error":"token_revoked"}`, tokenkeeper.ClassRevoked, "token_revoked"},
		{"graph error 190", 400, jsonHeader(), `{"error":{"message":"Error validating access token: Session has expired","type":"OAuthException","code":190}}`, tokenkeeper.ClassRevoked, "oauthexception_190"},
		{"graph error other", 400, jsonHeader(), `{"error":{"message":"Unsupported get request","type":"GraphMethodException","code":100}}`, tokenkeeper.ClassPermanent, "graphmethodexception_100"},
		{"invalid_client", 401, jsonHeader(), `{"error":"invalid_client"}`, tokenkeeper.ClassConfig, "invalid_client"},
		{"invalid_client 400", 400, jsonHeader(), `{"error":"invalid_client","error_description":"Client authentication failed"}`, tokenkeeper.ClassConfig, "invalid_client"},
		{"unauthorized_client", 400, jsonHeader(), `{"error":"unauthorized_client"}`, tokenkeeper.ClassConfig, "unauthorized_client"},
		{"slack bad_client_secret", 200, jsonHeader(), `{"ok":false,"error":"bad_client_secret"}`, tokenkeeper.ClassConfig, "bad_client_secret"},
		{"temporarily_unavailable", 400, jsonHeader(), `{"error":"temporarily_unavailable"}`, tokenkeeper.ClassTransient, "temporarily_unavailable"},
		{"slack ratelimited", 200, jsonHeader(), `{"ok":false,"error":"ratelimited"}`, tokenkeeper.ClassTransient, "ratelimited"},
		{"invalid_request", 400, jsonHeader(), `{"error":"invalid_request","reason":"Invalid Token!"}`, tokenkeeper.ClassPermanent, "invalid_request"},
		{"invalid_scope", 400, jsonHeader(), `{"error":"invalid_scope"}`, tokenkeeper.ClassPermanent, "invalid_scope"},
		{"unsupported_grant_type", 400, jsonHeader(), `{"error":"unsupported_grant_type"}`, tokenkeeper.ClassPermanent, "unsupported_grant_type"},
		{"unknown code", 400, jsonHeader(), `{"error":"something_else"}`, tokenkeeper.ClassPermanent, "something_else"},
		{"401 without code", 401, nil, `Unauthorized`, tokenkeeper.ClassPermanent, "http_401"},
		{"403 html", 403, http.Header{"Content-Type": {"text/html"}}, `<html>Forbidden</html>`, tokenkeeper.ClassPermanent, "http_403"},
		{"404", 404, nil, ``, tokenkeeper.ClassPermanent, "http_404"},
		{"400 twitch style", 400, jsonHeader(), `{"status":400,"message":"Invalid refresh token"}`, tokenkeeper.ClassPermanent, "http_400"},
		{"status 0", 0, nil, `{"access_token":"at"}`, tokenkeeper.ClassTransient, "unexpected_status"},
		{"status 100", 100, nil, ``, tokenkeeper.ClassTransient, "unexpected_status"},
		{"status 600", 600, nil, ``, tokenkeeper.ClassTransient, "unexpected_status"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := tc.header
			if h == nil {
				h = http.Header{}
			}
			o := oauth.ParseTokenResponse(tc.status, h, []byte(tc.body), testProvider(), sentRT, t0)
			if o.Class != tc.class || o.Code != tc.code {
				t.Fatalf("got class %q code %q, want %q %q (message %q)", o.Class, o.Code, tc.class, tc.code, o.Message)
			}
			if o.HTTPStatus != tc.status {
				t.Errorf("HTTPStatus = %d, want %d", o.HTTPStatus, tc.status)
			}
			if (o.Token != nil) != (tc.class == tokenkeeper.ClassSuccess) {
				t.Errorf("Token = %v for class %q", o.Token, o.Class)
			}
			if tc.class != tokenkeeper.ClassSuccess && o.Message == "" {
				t.Errorf("failure without message")
			}
		})
	}
}

// TestParseErrorIn200 checks the Slack "ok": false shape, which is an error
// only with the ErrorIn200 quirk.
func TestParseErrorIn200(t *testing.T) {
	t.Parallel()
	p := testProvider()
	body := []byte(`{"ok":false,"warning":"something"}`)
	if o := oauth.ParseTokenResponse(200, jsonHeader(), body, p, sentRT, t0); o.Code != "malformed_response" {
		t.Fatalf("without quirk: code %q, want malformed_response", o.Code)
	}
	p.Refresh.ErrorIn200 = true
	o := oauth.ParseTokenResponse(200, jsonHeader(), body, p, sentRT, t0)
	if o.Class != tokenkeeper.ClassPermanent || o.Code != "error_in_200" {
		t.Fatalf("with quirk: %q %q, want permanent error_in_200", o.Class, o.Code)
	}
	ok := oauth.ParseTokenResponse(200, jsonHeader(), []byte(`{"ok":true,"access_token":"xoxe-1"}`), p, sentRT, t0)
	if ok.Class != tokenkeeper.ClassSuccess {
		t.Fatalf("ok=true: %q", ok.Class)
	}
}

func TestParseSuccessFields(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name      string
		header    http.Header
		body      string
		sent      tokenkeeper.Secret
		wantRT    tokenkeeper.Secret
		rotated   bool
		scopes    []string
		tokenType string
		rtExpiry  time.Duration
	}{
		{"new refresh token rotates", jsonHeader(), `{"access_token":"at","refresh_token":"rt-new","token_type":"Bearer","scope":"read write"}`, sentRT, "rt-new", true, []string{"read", "write"}, "Bearer", 0},
		{"same refresh token does not rotate", jsonHeader(), `{"access_token":"at","refresh_token":"` + sentRT + `"}`, sentRT, sentRT, false, nil, "", 0},
		{"absent refresh token keeps the old one", jsonHeader(), `{"access_token":"at","expires_in":3599}`, sentRT, sentRT, false, nil, "", 0},
		{"empty refresh token keeps the old one", jsonHeader(), `{"access_token":"at","refresh_token":""}`, sentRT, sentRT, false, nil, "", 0},
		{"code exchange is never rotated", jsonHeader(), `{"access_token":"at","refresh_token":"rt-1"}`, "", "rt-1", false, nil, "", 0},
		{"comma scopes", jsonHeader(), `{"access_token":"at","scope":"repo,gist"}`, sentRT, sentRT, false, []string{"repo", "gist"}, "", 0},
		{"array scopes", jsonHeader(), `{"access_token":"at","scope":["a","b c"]}`, sentRT, sentRT, false, []string{"a", "b", "c"}, "", 0},
		{"refresh_token_expires_in", jsonHeader(), `{"access_token":"at","refresh_token_expires_in":15811200}`, sentRT, sentRT, false, nil, "", 15811200 * time.Second},
		{"x_refresh_token_expires_in", jsonHeader(), `{"access_token":"at","x_refresh_token_expires_in":"8726400"}`, sentRT, sentRT, false, nil, "", 8726400 * time.Second},
		{"github form", http.Header{"Content-Type": {"application/x-www-form-urlencoded; charset=utf-8"}}, `access_token=ghu_1&expires_in=28800&refresh_token=ghr_2&refresh_token_expires_in=15811200&scope=repo%2Cgist&token_type=bearer`, sentRT, "ghr_2", true, []string{"repo", "gist"}, "bearer", 15811200 * time.Second},
		{"form sniffed without content type", nil, `access_token=at&token_type=bearer`, sentRT, sentRT, false, nil, "bearer", 0},
		{"json sniffed behind text/html", http.Header{"Content-Type": {"text/html"}}, "\ufeff  {\"access_token\":\"at\"}", sentRT, sentRT, false, nil, "", 0},
		{"escaped strings", jsonHeader(), `{"access_token":"a\u0074\/x","refresh_token":"r\"t"}`, sentRT, `r"t`, true, nil, "", 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := tc.header
			if h == nil {
				h = http.Header{}
			}
			o := oauth.ParseTokenResponse(200, h, []byte(tc.body), testProvider(), tc.sent, t0)
			if o.Class != tokenkeeper.ClassSuccess {
				t.Fatalf("class %q code %q", o.Class, o.Code)
			}
			tok := o.Token
			if tok.RefreshToken != tc.wantRT || o.Rotated != tc.rotated {
				t.Errorf("refresh token %q rotated %v, want %q %v", tok.RefreshToken.Reveal(), o.Rotated, tc.wantRT.Reveal(), tc.rotated)
			}
			if strings.Join(tok.Scopes, "|") != strings.Join(tc.scopes, "|") {
				t.Errorf("scopes %q, want %q", tok.Scopes, tc.scopes)
			}
			if tok.TokenType != tc.tokenType {
				t.Errorf("token type %q, want %q", tok.TokenType, tc.tokenType)
			}
			if want := t0.Add(tc.rtExpiry); tc.rtExpiry > 0 && !tok.RefreshTokenExpiresAt.Equal(want) {
				t.Errorf("refresh expiry %v, want %v", tok.RefreshTokenExpiresAt, want)
			} else if tc.rtExpiry == 0 && !tok.RefreshTokenExpiresAt.IsZero() {
				t.Errorf("refresh expiry %v, want zero", tok.RefreshTokenExpiresAt)
			}
		})
	}
}

func TestParseExpiresIn(t *testing.T) {
	t.Parallel()
	const tenYears = 10 * 365 * 24 * time.Hour
	cases := []struct {
		name     string
		value    string // the JSON value of expires_in; "" leaves it out
		lifetime time.Duration
	}{
		{"number", `3600`, time.Hour},
		{"numeric string", `"3600"`, time.Hour},
		{"float", `3600.5`, 3600*time.Second + 500*time.Millisecond},
		{"float string", `"3600.0"`, time.Hour},
		{"exponent", `3.6e3`, time.Hour},
		{"missing", ``, 0},
		{"null", `null`, 0},
		{"zero", `0`, 0},
		{"negative", `-5`, 0},
		{"garbage string", `"soon"`, 0},
		{"boolean", `true`, 0},
		{"object", `{}`, 0},
		{"NaN string", `"NaN"`, 0},
		{"Inf string", `"Inf"`, 0},
		{"huge", `99999999999999999999`, tenYears},
		{"just over ten years", strconv.Itoa(int(tenYears.Seconds()) + 1), tenYears},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			body := `{"access_token":"opaque"}`
			if tc.value != "" {
				body = `{"access_token":"opaque","expires_in":` + tc.value + `}`
			}
			o := oauth.ParseTokenResponse(200, jsonHeader(), []byte(body), testProvider(), sentRT, t0)
			if o.Class != tokenkeeper.ClassSuccess {
				t.Fatalf("class %q code %q", o.Class, o.Code)
			}
			if o.Token.Lifetime != tc.lifetime {
				t.Errorf("Lifetime %v, want %v", o.Token.Lifetime, tc.lifetime)
			}
			want := time.Time{}
			if tc.lifetime > 0 {
				want = t0.Add(tc.lifetime)
			}
			if !o.Token.ExpiresAt.Equal(want) {
				t.Errorf("ExpiresAt %v, want %v", o.Token.ExpiresAt, want)
			}
		})
	}
}

// jwt returns an unsigned JWT whose payload is claims.
func jwt(claims string) string {
	enc := base64.RawURLEncoding
	return enc.EncodeToString([]byte(`{"alg":"RS256","typ":"JWT"}`)) + "." + enc.EncodeToString([]byte(claims)) + ".c2lnbmF0dXJl"
}

func TestParseExpiryFallbacks(t *testing.T) {
	t.Parallel()
	exp := t0.Add(90 * time.Minute)
	cases := []struct {
		name        string
		token       string
		expiresIn   string
		defaultLife time.Duration
		want        time.Time
	}{
		{"expires_in wins over jwt", jwt(`{"exp":` + strconv.FormatInt(exp.Unix(), 10) + `}`), `,"expires_in":60`, 2 * time.Hour, t0.Add(time.Minute)},
		{"jwt exp", jwt(`{"sub":"u","exp":` + strconv.FormatInt(exp.Unix(), 10) + `}`), ``, 2 * time.Hour, exp},
		{"jwt float exp", jwt(`{"exp":` + strconv.FormatInt(exp.Unix(), 10) + `.5}`), ``, 0, exp.Add(500 * time.Millisecond)},
		{"jwt past exp falls back to the default", jwt(`{"exp":` + strconv.FormatInt(t0.Add(-time.Hour).Unix(), 10) + `}`), ``, 2 * time.Hour, t0.Add(2 * time.Hour)},
		{"jwt huge exp is capped", jwt(`{"exp":1e300}`), ``, 0, t0.Add(10 * 365 * 24 * time.Hour)},
		{"jwt without exp", jwt(`{"sub":"u"}`), ``, 2 * time.Hour, t0.Add(2 * time.Hour)},
		{"jwt string exp", jwt(`{"exp":"soon"}`), ``, 0, time.Time{}},
		{"jwt bad base64", "a.!!!.c", ``, 0, time.Time{}},
		{"four segments", jwt(`{"exp":`+strconv.FormatInt(exp.Unix(), 10)+`}`) + ".x", ``, 0, time.Time{}},
		{"opaque token uses the default", "opaque", ``, 2 * time.Hour, t0.Add(2 * time.Hour)},
		{"nothing known", "opaque", ``, 0, time.Time{}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p := testProvider()
			p.AccessTokenLifetime = tc.defaultLife
			body := `{"access_token":"` + tc.token + `"` + tc.expiresIn + `}`
			o := oauth.ParseTokenResponse(200, jsonHeader(), []byte(body), p, sentRT, t0)
			if o.Class != tokenkeeper.ClassSuccess {
				t.Fatalf("class %q code %q", o.Class, o.Code)
			}
			if !o.Token.ExpiresAt.Equal(tc.want) {
				t.Errorf("ExpiresAt %v, want %v", o.Token.ExpiresAt, tc.want)
			}
		})
	}
}
