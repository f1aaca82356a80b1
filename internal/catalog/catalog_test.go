package catalog

import (
	"errors"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/tokenkeeper/tokenkeeper"
)

// fakeEnv returns a getenv and a readFile backed by maps.
func fakeEnv(env map[string]string, files map[string]string) (func(string) string, func(string) ([]byte, error)) {
	getenv := func(k string) string { return env[k] }
	readFile := func(p string) ([]byte, error) {
		if s, ok := files[p]; ok {
			return []byte(s), nil
		}
		return nil, &fs.PathError{Op: "open", Path: p, Err: fs.ErrNotExist}
	}
	return getenv, readFile
}

// parse parses an operator file with fake environment and files.
func parse(t *testing.T, yml string, env, files map[string]string) (*Catalog, error) {
	t.Helper()
	getenv, readFile := fakeEnv(env, files)
	return Parse([]byte(yml), getenv, readFile)
}

func mustParse(t *testing.T, yml string, env, files map[string]string) *Catalog {
	t.Helper()
	c, err := parse(t, yml, env, files)
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	return c
}

func TestOverrideMergesOverCatalog(t *testing.T) {
	t.Parallel()
	fake := httptest.NewServer(http.NotFoundHandler())
	t.Cleanup(fake.Close)
	c := mustParse(t, `
providers:
  google:
    client_id: gid
    client_secret: env:GOOGLE_SECRET
    auth_url: `+fake.URL+`/authorize
    token_url: `+fake.URL+`/token
    auth_params: {prompt: select_account, login_hint: a@example.com}
    keepalive: 30d
  reddit:
    refresh:
      headers: {user-agent: "web:acme:1.0 (by /u/acme)", X-Extra: "1"}
  linkedin:
    auth_params: {prompt: ""}
    sweep_schedule: "0 0,12 * * *"
`, map[string]string{"GOOGLE_SECRET": "gsecret"}, nil)

	g, _ := c.Provider("google")
	if g.TokenURL != fake.URL+"/token" || g.AuthURL != fake.URL+"/authorize" {
		t.Errorf("URLs not overridden: %s %s", g.AuthURL, g.TokenURL)
	}
	if g.RevokeURL != "https://oauth2.googleapis.com/revoke" || g.AccountIDField != "sub" {
		t.Errorf("fields not named in the file changed: %+v", *g)
	}
	want := map[string]string{"access_type": "offline", "prompt": "select_account", "login_hint": "a@example.com"}
	if len(g.AuthParams) != len(want) {
		t.Errorf("auth_params = %v, want %v", g.AuthParams, want)
	}
	for k, v := range want {
		if g.AuthParams[k] != v {
			t.Errorf("auth_params[%s] = %q, want %q", k, g.AuthParams[k], v)
		}
	}
	if g.Keepalive.Hours() != 720 || g.ClientID != "gid" || g.ClientSecret.Reveal() != "gsecret" || g.Custom {
		t.Errorf("google = %+v", *g)
	}
	if !c.Configured("google") || c.Configured("spotify") {
		t.Error("Configured wrong")
	}

	r, _ := c.Provider("reddit")
	if len(r.Refresh.Headers) != 2 || r.Refresh.Headers["User-Agent"] != "web:acme:1.0 (by /u/acme)" || r.Refresh.Headers["X-Extra"] != "1" {
		t.Errorf("headers = %v", r.Refresh.Headers)
	}
	if r.AuthParams["duration"] != "permanent" {
		t.Error("reddit lost its catalog auth_params")
	}
	l, _ := c.Provider("linkedin")
	if len(l.AuthParams) != 0 || l.SweepSchedule != "0 0,12 * * *" {
		t.Errorf("linkedin = %+v", *l)
	}

	// The builtin catalog is untouched by the override.
	b, _ := builtin(t).Provider("google")
	if b.TokenURL != "https://oauth2.googleapis.com/token" {
		t.Errorf("builtin changed: %s", b.TokenURL)
	}
}

func TestCustomProvider(t *testing.T) {
	t.Parallel()
	c := mustParse(t, `
providers:
  acme:
    display_name: Acme
    auth_url: https://acme.example/oauth/authorize
    token_url: https://acme.example/oauth/token
    revoke_url: https://acme.example/oauth/revoke
    auth_method: basic
    client_id: my-client
    client_secret: file:/run/secrets/acme
    scopes: [read, offline]
    access_token_lifetime: 1h30m
    refresh_token_lifetime: 1d12h
  local:
    token_url: http://127.0.0.1:9999/token
    auth_method: post
    pkce: required
    client_id: public
`, nil, map[string]string{"/run/secrets/acme": "acme-secret\n"})

	a, ok := c.Provider("acme")
	if !ok {
		t.Fatal("acme missing")
	}
	if !a.Custom || a.PKCE != tokenkeeper.PKCESupported || !a.RefreshSupported || a.AuthMethod != tokenkeeper.AuthBasic {
		t.Errorf("custom defaults wrong: %+v", *a)
	}
	if a.ClientSecret.Reveal() != "acme-secret" || a.AccessTokenLifetime.Minutes() != 90 || a.RefreshTokenLifetime.Hours() != 36 {
		t.Errorf("acme = %+v", *a)
	}
	l, _ := c.Provider("local")
	if l.DisplayName != "local" || !c.Configured("local") {
		t.Errorf("local = %+v, configured %v", *l, c.Configured("local"))
	}
	if n := len(c.Names()); n != len(builtinNames)+2 {
		t.Errorf("%d providers, want %d", n, len(builtinNames)+2)
	}
}

func TestParseErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, yml string
		want      []string // substrings of the error
	}{
		{"unknown key", "providers:\n  google:\n    tokn_url: https://x.example/t\n", []string{`"google"`, `"tokn_url"`}},
		{"unknown refresh key", "providers:\n  notion:\n    refresh: {bdy: json}\n", []string{`"notion"`, `"bdy"`}},
		{"unknown top-level key", "provider: {}\n", []string{`"provider"`}},
		{"custom without auth_method", "providers:\n  acme:\n    token_url: https://a.example/t\n", []string{`"acme"`, "auth_method"}},
		{"custom without token_url", "providers:\n  acme:\n    auth_method: post\n", []string{`"acme"`, "token_url"}},
		{"relative URL", "providers:\n  google:\n    token_url: /token\n", []string{`"google"`, "token_url", "absolute"}},
		{"ftp URL", "providers:\n  google:\n    revoke_url: ftp://x.example/r\n", []string{"revoke_url"}},
		{"URL with credentials", "providers:\n  google:\n    token_url: https://u:p@x.example/t\n", []string{"credentials"}},
		{"bad auth_method", "providers:\n  google:\n    auth_method: header\n", []string{"auth_method"}},
		{"bad pkce", "providers:\n  google:\n    pkce: maybe\n", []string{"pkce"}},
		{"bad name", "providers:\n  Acme:\n    auth_method: post\n", []string{`"Acme"`}},
		{"long name", "providers:\n  " + strings.Repeat("a", 65) + ":\n    auth_method: post\n", []string{"64"}},
		{"bad duration", "providers:\n  google:\n    keepalive: 3600\n", []string{"keepalive", "duration"}},
		{"negative duration", "providers:\n  google:\n    keepalive: -1h\n", []string{"keepalive"}},
		{"bool as list", "providers:\n  google:\n    rotates: [yes]\n", []string{"rotates", "true or false"}},
		{"duplicate key", "providers:\n  google:\n    keepalive: 1h\n    keepalive: 2h\n", []string{"keepalive", "twice"}},
		{"env unset", "providers:\n  google:\n    client_secret: env:NOPE\n", []string{"NOPE", "client_secret"}},
		{"file missing", "providers:\n  google:\n    client_secret: file:/nope\n", []string{"/nope"}},
		{"no_expires_in without lifetime", "providers:\n  acme:\n    auth_method: post\n    token_url: https://a.example/t\n    refresh: {no_expires_in: true}\n", []string{"access_token_lifetime"}},
		{"bad cron", "providers:\n  google:\n    sweep_schedule: every day\n", []string{"sweep_schedule"}},
		{"bad header name", "providers:\n  google:\n    refresh: {headers: {\"Bad Header\": x}}\n", []string{"header"}},
		{"grace without rotation", "providers:\n  google:\n    rotation_grace: 1m\n", []string{"rotation_grace"}},
		{"name mismatch", "providers:\n  google:\n    name: goggle\n", []string{"name"}},
		{"not a mapping", "- a\n- b\n", []string{"providers"}},
		{"two documents", "providers: {}\n---\nproviders: {}\n", []string{"document"}},
		{"syntax", "providers: [\n", []string{"YAML"}},
		{"scope with space", "providers:\n  google:\n    scopes: [\"a b\"]\n", []string{"scope"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, err := parse(t, tt.yml, nil, nil)
			if err == nil {
				t.Fatalf("Parse succeeded: %v", c.Names())
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

func TestParseEmptyIsBuiltin(t *testing.T) {
	t.Parallel()
	for _, in := range []string{"", "\n# nothing\n", "providers:\n", "providers: {}\n", "~\n"} {
		c, err := parse(t, in, nil, nil)
		if err != nil {
			t.Fatalf("Parse(%q): %v", in, err)
		}
		if len(c.Names()) != len(builtinNames) {
			t.Errorf("Parse(%q): %d providers", in, len(c.Names()))
		}
	}
}

func TestMergeKeysAndAliases(t *testing.T) {
	t.Parallel()
	c := mustParse(t, `
x-common: &common
  auth_method: post
  pkce: "no"
  refresh: {headers: {X-Team: core}}
providers:
  a1:
    <<: *common
    token_url: https://a.example/t
  a2:
    <<: *common
    token_url: https://b.example/t
    pkce: required
`, nil, nil)
	a1, _ := c.Provider("a1")
	a2, _ := c.Provider("a2")
	if a1.AuthMethod != tokenkeeper.AuthPost || a1.PKCE != tokenkeeper.PKCENo || a1.Refresh.Headers["X-Team"] != "core" {
		t.Errorf("a1 = %+v", *a1)
	}
	if a2.PKCE != tokenkeeper.PKCERequired || a2.TokenURL != "https://b.example/t" || a2.Refresh.Headers["X-Team"] != "core" {
		t.Errorf("a2 = %+v", *a2)
	}
	if _, err := parse(t, "x-a: &a {bogus: 1}\nproviders:\n  google:\n    <<: *a\n", nil, nil); err == nil ||
		!strings.Contains(err.Error(), `"bogus"`) {
		t.Errorf("merged unknown key: err = %v", err)
	}
}

func TestProviderReturnsACopy(t *testing.T) {
	t.Parallel()
	c := builtin(t)
	p, _ := c.Provider("reddit")
	p.TokenURL = "https://evil.example/"
	p.AuthParams["duration"] = "temporary"
	p.Refresh.Headers["User-Agent"] = "x"
	p.Scopes[0] = "all"
	ps := c.Providers()
	ps[0].Name = "changed"
	q, _ := c.Provider("reddit")
	if q.TokenURL == p.TokenURL || q.AuthParams["duration"] != "permanent" ||
		q.Refresh.Headers["User-Agent"] == "x" || q.Scopes[0] != "identity" {
		t.Errorf("catalog changed through a copy: %+v", *q)
	}
	if c.Providers()[0].Name != "atlassian" {
		t.Error("Providers() handed out the catalog's own value")
	}
}

func TestValidate(t *testing.T) {
	t.Parallel()
	c := builtin(t)
	if err := c.Validate("google"); err != nil {
		t.Errorf("Validate(google) = %v", err)
	}
	for _, name := range []string{"nope", "", "GOOGLE"} {
		err := c.Validate(name)
		var te *tokenkeeper.Error
		if !errors.As(err, &te) || te.Code != tokenkeeper.CodeProviderUnknown {
			t.Errorf("Validate(%q) = %v, want %s", name, err, tokenkeeper.CodeProviderUnknown)
		}
	}
	if _, ok := c.Provider("nope"); ok {
		t.Error("Provider(nope) found")
	}
	var zero Catalog
	if zero.Validate("google") == nil || len(zero.Providers()) != 0 || zero.Configured("google") {
		t.Error("zero Catalog not empty")
	}
}

func TestConfigured(t *testing.T) {
	t.Parallel()
	c := mustParse(t, `
providers:
  google: {client_id: id, client_secret: s}
  spotify: {client_id: id}
  x: {client_id: id}
  discord: {client_secret: s}
  dropbox: {client_id: id, pkce: required}
`, nil, nil)
	for name, want := range map[string]bool{
		"google": true, "spotify": false, "x": true, "discord": false, "dropbox": true, "zoom": false, "nope": false,
	} {
		if got := c.Configured(name); got != want {
			t.Errorf("Configured(%s) = %v, want %v", name, got, want)
		}
	}
}
