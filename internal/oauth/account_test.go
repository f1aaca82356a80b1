package oauth_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/tokenkeeper/tokenkeeper"
	"github.com/tokenkeeper/tokenkeeper/internal/oauth"
)

func TestAccountID(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, body, path, want string
		ok                     bool
	}{
		{"string", `{"id":"abc"}`, "id", "abc", true},
		{"default path", `{"id":"abc"}`, "", "abc", true},
		{"integer", `{"id":12345678901}`, "id", "12345678901", true},
		{"nested", `{"data":{"user":{"id":"u1"}}}`, "data.user.id", "u1", true},
		{"sub", `{"sub":"1090","email":"a@b"}`, "sub", "1090", true},
		{"missing", `{"name":"x"}`, "id", "", false},
		{"null", `{"id":null}`, "id", "", false},
		{"empty string", `{"id":""}`, "id", "", false},
		{"float", `{"id":1.5}`, "id", "", false},
		{"object", `{"id":{"x":1}}`, "id", "", false},
		{"control chars", `{"id":"a\nb"}`, "id", "", false},
		{"too long", `{"id":"` + strings.Repeat("x", 201) + `"}`, "id", "", false},
		{"not json", `<html>`, "id", "", false},
		{"path through a string", `{"data":"x"}`, "data.id", "", false},
		{"array", `[{"id":"a"}]`, "id", "", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, ok := oauth.AccountID([]byte(tc.body), tc.path)
			if got != tc.want || ok != tc.ok {
				t.Errorf("AccountID(%s, %q) = %q, %v; want %q, %v", tc.body, tc.path, got, ok, tc.want, tc.ok)
			}
		})
	}
}

func FuzzAccountID(f *testing.F) {
	for _, s := range []string{`{"id":"a"}`, `{"data":{"id":7}}`, `{"id":1e400}`, `{"id":"\u0000"}`, `[`, ``} {
		f.Add([]byte(s), "id")
		f.Add([]byte(s), "data.id")
	}
	f.Fuzz(func(t *testing.T, body []byte, path string) {
		id, ok := oauth.AccountID(body, path)
		if ok && (id == "" || len(id) > 200) {
			t.Errorf("AccountID accepted %q", id)
		}
		if !ok && id != "" {
			t.Errorf("AccountID refused but returned %q", id)
		}
	})
}

func TestAccount(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		status int
		body   string
		want   string
		class  tokenkeeper.Class
		code   string
	}{
		{"ok", 200, `{"data":{"id":"t2_abc"}}`, "t2_abc", tokenkeeper.ClassSuccess, ""},
		{"unauthorized", 401, `{"error":"invalid_token"}`, "", tokenkeeper.ClassPermanent, "http_401"},
		{"unavailable", 503, `down`, "", tokenkeeper.ClassTransient, "http_503"},
		{"rate limited", 429, `{}`, "", tokenkeeper.ClassTransient, "http_429"},
		{"no id", 200, `{"data":{}}`, "", tokenkeeper.ClassPermanent, "account_id_missing"},
		{"redirect", 302, ``, "", tokenkeeper.ClassPermanent, "http_302"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			rec := newRecorder(t, tc.status, nil, tc.body)
			p := providerAt(rec.srv.URL, tokenkeeper.AuthBasic)
			p.AccountURL, p.AccountIDField = rec.srv.URL+"/me", "data.id"
			p.Refresh.Headers = map[string]string{"User-Agent": "web:tokenkeeper-test:1.0 (by /u/someone)"}
			id, o := newClient(t, nil).Account(t.Context(), p, "at-secret-123456")
			if id != tc.want || o.Class != tc.class || o.Code != tc.code {
				t.Errorf("Account = %q, %+v; want %q, class %s code %q", id, o, tc.want, tc.class, tc.code)
			}
			if strings.Contains(o.Message, "at-secret-123456") {
				t.Error("the outcome's message holds the access token")
			}
			req := rec.only(t)
			if req.Method != http.MethodGet || req.Path != "/me" {
				t.Errorf("request %s %s, want GET /me", req.Method, req.Path)
			}
			if got := req.Header.Get("Authorization"); got != "Bearer at-secret-123456" {
				t.Errorf("Authorization = %q", got)
			}
			if got := req.Header.Get("User-Agent"); got != p.Refresh.Headers["User-Agent"] {
				t.Errorf("User-Agent = %q, want the provider's", got)
			}
		})
	}
}

func TestAccountWithoutURL(t *testing.T) {
	t.Parallel()
	id, o := newClient(t, nil).Account(t.Context(), providerAt("http://127.0.0.1:1", tokenkeeper.AuthPost), "at")
	if id != "" || o.Class != tokenkeeper.ClassSuccess {
		t.Errorf("Account without account_url = %q, %+v; want nothing, success", id, o)
	}
	p := providerAt("http://127.0.0.1:1", tokenkeeper.AuthPost)
	p.AccountURL = "ftp://x/me"
	if _, o := newClient(t, nil).Account(t.Context(), p, "at"); o.Class != tokenkeeper.ClassConfig {
		t.Errorf("Account with an ftp URL = %+v, want a config outcome", o)
	}
}
