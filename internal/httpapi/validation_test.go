package httpapi

import (
	"net/http"
	"strings"
	"testing"

	"github.com/tokenkeeper/tokenkeeper"
)

// validLink is a link body that passes validation.
func validLink() map[string]any {
	return map[string]any{
		"user_id":      "user-1",
		"provider":     "acme",
		"account_id":   "acct-1",
		"access_token": "at-secret",
	}
}

func with(m map[string]any, kv ...any) map[string]any {
	for i := 0; i < len(kv); i += 2 {
		if kv[i+1] == nil {
			delete(m, kv[i].(string))
			continue
		}
		m[kv[i].(string)] = kv[i+1]
	}
	return m
}

// TestLinkInvalid covers every way a link body is refused before the keeper
// is called: the status, the code and a word of the message.
func TestLinkInvalid(t *testing.T) {
	t.Parallel()
	deep := `{"scopes":` + strings.Repeat("[", 33) + strings.Repeat("]", 33) + `}`
	tests := map[string]struct {
		body   any
		status int
		code   tokenkeeper.Code
		msg    string
	}{
		"malformed JSON":         {`{"user_id":`, 400, tokenkeeper.CodeInvalidRequest, "malformed JSON"},
		"syntax error":           {`{"user_id" "a"}`, 400, tokenkeeper.CodeInvalidRequest, "malformed JSON at byte"},
		"empty body":             {``, 400, tokenkeeper.CodeInvalidRequest, "empty"},
		"not an object":          {`["a"]`, 400, tokenkeeper.CodeInvalidRequest, "JSON object"},
		"null":                   {`null`, 400, tokenkeeper.CodeInvalidRequest, "JSON object"},
		"unknown field":          {with(validLink(), "acess_token", "x"), 400, tokenkeeper.CodeInvalidRequest, `unknown field "acess_token"`},
		"trailing data":          {`{"user_id":"u","provider":"acme","access_token":"a"} {}`, 400, tokenkeeper.CodeInvalidRequest, "data after"},
		"trailing garbage":       {`{"user_id":"u","provider":"acme","access_token":"a"}x`, 400, tokenkeeper.CodeInvalidRequest, "data after"},
		"wrong type string":      {with(validLink(), "user_id", 5), 400, tokenkeeper.CodeInvalidRequest, "user_id must be a string"},
		"wrong type integer":     {with(validLink(), "expires_in", "3600"), 400, tokenkeeper.CodeInvalidRequest, "expires_in must be an integer"},
		"fractional integer":     {with(validLink(), "expires_in", 1.5), 400, tokenkeeper.CodeInvalidRequest, "expires_in must be an integer"},
		"wrong type array":       {with(validLink(), "scopes", "read"), 400, tokenkeeper.CodeInvalidRequest, "scopes must be an array"},
		"deep nesting":           {deep, 400, tokenkeeper.CodeInvalidRequest, "deeper than 32"},
		"invalid UTF-8":          {"{\"user_id\":\"u\xff\"}", 400, tokenkeeper.CodeInvalidRequest, "UTF-8"},
		"missing user_id":        {with(validLink(), "user_id", nil), 400, tokenkeeper.CodeInvalidRequest, "user_id is required"},
		"missing provider":       {with(validLink(), "provider", nil), 400, tokenkeeper.CodeInvalidRequest, "provider is required"},
		"missing access_token":   {with(validLink(), "access_token", nil), 400, tokenkeeper.CodeInvalidRequest, "access_token is required"},
		"unknown provider":       {with(validLink(), "provider", "initech"), 400, tokenkeeper.CodeProviderUnknown, `unknown provider "initech"`},
		"invalid provider":       {with(validLink(), "provider", "../acme"), 400, tokenkeeper.CodeInvalidRequest, "provider must be"},
		"path in user_id":        {with(validLink(), "user_id", "../../etc/passwd"), 400, tokenkeeper.CodeInvalidRequest, "user_id must be"},
		"space in account_id":    {with(validLink(), "account_id", "a b"), 400, tokenkeeper.CodeInvalidRequest, "account_id must be"},
		"long user_id":           {with(validLink(), "user_id", strings.Repeat("u", 201)), 400, tokenkeeper.CodeInvalidRequest, "user_id must be"},
		"bad expires_at":         {with(validLink(), "expires_at", "tomorrow"), 400, tokenkeeper.CodeInvalidRequest, "expires_at must be an RFC 3339"},
		"bad refresh expiry":     {with(validLink(), "refresh_token_expires_at", "2026-13-01T00:00:00Z"), 400, tokenkeeper.CodeInvalidRequest, "refresh_token_expires_at must be"},
		"negative expires_in":    {with(validLink(), "expires_in", -1), 400, tokenkeeper.CodeInvalidRequest, "expires_in must be between"},
		"huge expires_in":        {with(validLink(), "expires_in", int64(1)<<40), 400, tokenkeeper.CodeInvalidRequest, "expires_in must be between"},
		"both expiries":          {with(validLink(), "expires_in", 60, "expires_at", "2026-03-01T13:00:00Z"), 400, tokenkeeper.CodeInvalidRequest, "not both"},
		"empty scope":            {with(validLink(), "scopes", []string{"read", ""}), 400, tokenkeeper.CodeInvalidRequest, "scopes"},
		"NUL in scope":           {`{"user_id":"u","provider":"acme","access_token":"a","scopes":["re\u0000ad"]}`, 400, tokenkeeper.CodeInvalidRequest, "control characters"},
		"newline in scope":       {with(validLink(), "scopes", []string{"read\r\nX: 1"}), 400, tokenkeeper.CodeInvalidRequest, "control characters"},
		"long scope":             {with(validLink(), "scopes", []string{strings.Repeat("s", 513)}), 400, tokenkeeper.CodeInvalidRequest, "at most 512 bytes"},
		"bad e-mail":             {with(validLink(), "user_email", "not an address"), 400, tokenkeeper.CodeInvalidRequest, "user_email"},
		"e-mail with a name":     {with(validLink(), "user_email", "Ann <ann@example.com>"), 400, tokenkeeper.CodeInvalidRequest, "user_email"},
		"oversized body":         {with(validLink(), "refresh_token", strings.Repeat("r", 64<<10)), 400, tokenkeeper.CodeInvalidRequest, "larger than 65536 bytes"},
		"oversized invalid body": {strings.Repeat("x", 64<<10+1), 400, tokenkeeper.CodeInvalidRequest, "larger than"},
	}
	e := setup(t)
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			res := e.do(http.MethodPost, "/v1/connections", e.writer, tc.body)
			wantError(t, res, tc.status, tc.code)
			if msg := res.JSON(t)["error"].(map[string]any)["message"].(string); !strings.Contains(msg, tc.msg) {
				t.Errorf("message %q does not say %q", msg, tc.msg)
			}
		})
	}
	t.Cleanup(func() {
		if n := e.keeper.Calls(); n != 0 {
			t.Errorf("the keeper was called %d times for invalid requests", n)
		}
	})
}

// TestWrongContentType refuses a body that is not declared as JSON.
func TestWrongContentType(t *testing.T) {
	t.Parallel()
	e := setup(t)
	req := newRequest(http.MethodPost, "/v1/connections", e.writer, `{"user_id":"u"}`)
	req.Header.Set("Content-Type", "text/plain")
	wantError(t, e.serve(req), 400, tokenkeeper.CodeInvalidRequest)
}

// TestParamsInvalid covers bad path ids and query parameters of every route.
func TestParamsInvalid(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("c", 201)
	tests := map[string]struct {
		method, target string
		status         int
		code           tokenkeeper.Code
	}{
		"get: encoded slash in id":         {"GET", "/v1/connections/a%2F..%2F..%2Fetc", 400, tokenkeeper.CodeInvalidRequest},
		"get: long id":                     {"GET", "/v1/connections/" + long, 400, tokenkeeper.CodeInvalidRequest},
		"get: space in id":                 {"GET", "/v1/connections/a%20b", 400, tokenkeeper.CodeInvalidRequest},
		"get: dot dot id":                  {"GET", "/v1/connections/%2E%2E", 400, tokenkeeper.CodeInvalidRequest},
		"delete: bad id":                   {"DELETE", "/v1/connections/a%00b", 400, tokenkeeper.CodeInvalidRequest},
		"refresh: bad id":                  {"POST", "/v1/connections/a%2Fb/refresh", 400, tokenkeeper.CodeInvalidRequest},
		"token: bad id":                    {"GET", "/v1/connections/a%2Fb/token", 400, tokenkeeper.CodeInvalidRequest},
		"token: negative min_validity":     {"GET", "/v1/connections/conn_x/token?min_validity=-5m", 400, tokenkeeper.CodeInvalidRequest},
		"token: negative seconds":          {"GET", "/v1/connections/conn_x/token?min_validity=-1", 400, tokenkeeper.CodeInvalidRequest},
		"token: unparsable min_validity":   {"GET", "/v1/connections/conn_x/token?min_validity=soon", 400, tokenkeeper.CodeInvalidRequest},
		"token: empty min_validity":        {"GET", "/v1/connections/conn_x/token?min_validity=", 400, tokenkeeper.CodeInvalidRequest},
		"token: overflowing min_validity":  {"GET", "/v1/connections/conn_x/token?min_validity=9999999999999", 400, tokenkeeper.CodeInvalidRequest},
		"user token: bad user":             {"GET", "/v1/users/a%2Fb/providers/acme/token", 400, tokenkeeper.CodeInvalidRequest},
		"user token: unknown provider":     {"GET", "/v1/users/u1/providers/initech/token", 400, tokenkeeper.CodeProviderUnknown},
		"user token: bad provider":         {"GET", "/v1/users/u1/providers/a%2Fb/token", 400, tokenkeeper.CodeInvalidRequest},
		"user token: bad account":          {"GET", "/v1/users/u1/providers/acme/token?account_id=a/b", 400, tokenkeeper.CodeInvalidRequest},
		"user token: bad min_validity":     {"GET", "/v1/users/u1/providers/acme/token?min_validity=1x", 400, tokenkeeper.CodeInvalidRequest},
		"list: bad expiring_within":        {"GET", "/v1/connections?expiring_within=xyz", 400, tokenkeeper.CodeInvalidRequest},
		"list: negative expiring_within":   {"GET", "/v1/connections?expiring_within=-1h", 400, tokenkeeper.CodeInvalidRequest},
		"list: bad status":                 {"GET", "/v1/connections?status=broken", 400, tokenkeeper.CodeInvalidRequest},
		"list: zero limit":                 {"GET", "/v1/connections?limit=0", 400, tokenkeeper.CodeInvalidRequest},
		"list: limit over 1000":            {"GET", "/v1/connections?limit=1001", 400, tokenkeeper.CodeInvalidRequest},
		"list: limit not a number":         {"GET", "/v1/connections?limit=ten", 400, tokenkeeper.CodeInvalidRequest},
		"list: bad user_id":                {"GET", "/v1/connections?user_id=a%2Fb", 400, tokenkeeper.CodeInvalidRequest},
		"list: control char in cursor":     {"GET", "/v1/connections?cursor=a%0Ab", 400, tokenkeeper.CodeInvalidRequest},
		"list: empty cursor":               {"GET", "/v1/connections?cursor=", 400, tokenkeeper.CodeInvalidRequest},
		"list: invalid UTF-8 cursor":       {"GET", "/v1/connections?cursor=a%FFb", 400, tokenkeeper.CodeInvalidRequest},
		"refresh: malformed body":          {"POST", "/v1/connections/conn_x/refresh", 400, tokenkeeper.CodeInvalidRequest},
		"unknown route":                    {"GET", "/v1/nothing", 404, codeRouteNotFound},
		"unknown route below a connection": {"GET", "/v1/connections/conn_x/secrets", 404, codeRouteNotFound},
		"trailing slash":                   {"GET", "/v1/connections/", 404, codeRouteNotFound},
		"double slash":                     {"GET", "/v1//connections", 404, codeRouteNotFound},
		"dot segment":                      {"GET", "/v1/./connections", 404, codeRouteNotFound},
		"dot dot segment":                  {"GET", "/v1/connections/../connections", 404, codeRouteNotFound},
		"dot dot to a route":               {"GET", "/v1/users/../connections/conn_x", 404, codeRouteNotFound},
		"wrong method":                     {"PUT", "/v1/connections", 405, codeMethodNotAllowed},
		"wrong method on token":            {"POST", "/v1/connections/conn_x/token", 405, codeMethodNotAllowed},
	}
	e := setup(t)
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			var body any
			if tc.method == "POST" {
				body = `{"rejected_access_token":`
			}
			res := e.do(tc.method, tc.target, e.admin, body)
			wantError(t, res, tc.status, tc.code)
			if tc.status == 405 && res.Header.Get("Allow") == "" {
				t.Error("405 without Allow")
			}
		})
	}
	t.Cleanup(func() {
		if n := e.keeper.Calls(); n != 0 {
			t.Errorf("the keeper was called %d times for invalid requests", n)
		}
	})
}
