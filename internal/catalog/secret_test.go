package catalog

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestResolveSecret(t *testing.T) {
	t.Parallel()
	getenv, readFile := fakeEnv(
		map[string]string{"SECRET": "s3cr3t-env"},
		map[string]string{"/s": "s3cr3t-file\n", "/crlf": "s3cr3t-crlf\r\n", "/empty": "\n", "/inner": "a\nb\n"},
	)
	tests := []struct {
		ref, want string
		errHas    string // non-empty: an error containing this is expected
	}{
		{ref: "plain-value", want: "plain-value"},
		{ref: "", want: ""},
		{ref: "env:SECRET", want: "s3cr3t-env"},
		{ref: "file:/s", want: "s3cr3t-file"},
		{ref: "file:/crlf", want: "s3cr3t-crlf"},
		{ref: "file:/inner", want: "a\nb"},
		{ref: "env:UNSET", errHas: "UNSET"},
		{ref: "env:", errHas: "env:NAME"},
		{ref: "file:", errHas: "file:/path"},
		{ref: "file:/missing", errHas: "/missing"},
		{ref: "file:/empty", errHas: "/empty"},
	}
	for _, tt := range tests {
		t.Run(tt.ref, func(t *testing.T) {
			t.Parallel()
			got, err := ResolveSecret(tt.ref, getenv, readFile)
			if tt.errHas != "" {
				if err == nil || !strings.Contains(err.Error(), tt.errHas) {
					t.Fatalf("err = %v, want one naming %q", err, tt.errHas)
				}
				return
			}
			if err != nil || got.Reveal() != tt.want {
				t.Fatalf("= %q, %v; want %q", got.Reveal(), err, tt.want)
			}
		})
	}
}

func TestResolveSecretRealFile(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(path, []byte("from-disk\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	got, err := ResolveSecret("file:"+path, nil, nil)
	if err != nil || got.Reveal() != "from-disk" {
		t.Fatalf("= %q, %v", got.Reveal(), err)
	}
}

func TestLoad(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	secret := filepath.Join(dir, "linkedin")
	if err := os.WriteFile(secret, []byte("li-s3cr3t\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, "providers.yaml")
	body := "providers:\n  linkedin:\n    client_id: 86abc\n    client_secret: file:" + secret + "\n"
	if err := os.WriteFile(file, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := Load(file, func(string) string { return "" }, nil)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	p, _ := c.Provider("linkedin")
	if p.ClientSecret.Reveal() != "li-s3cr3t" || !c.Configured("linkedin") {
		t.Errorf("linkedin = %+v", *p)
	}
	if c, err := Load("", nil, nil); err != nil || len(c.Names()) != len(builtinNames) {
		t.Errorf(`Load("") = %v`, err)
	}
	if _, err := Load(filepath.Join(dir, "missing.yaml"), nil, nil); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Load(missing) = %v, want not exist", err)
	}
	if _, err := Load(file, nil, func(string) ([]byte, error) { return []byte("bogus: 1\n"), nil }); err == nil ||
		!strings.Contains(err.Error(), file) {
		t.Errorf("Load error does not name the file: %v", err)
	}
}

// TestErrorsNeverContainSecrets: whatever goes wrong after a secret was
// resolved, or wherever a secret lands in the wrong field, the error does
// not repeat it.
func TestErrorsNeverContainSecrets(t *testing.T) {
	t.Parallel()
	const s = "sk-s3cr3t-value"
	env := map[string]string{"SECRET": s}
	files := map[string]string{"/s": s + "\n"}
	tests := map[string]string{
		"env secret, later error":   "providers:\n  google:\n    client_secret: env:SECRET\n    token_url: nope\n",
		"file secret, custom error": "providers:\n  acme:\n    client_secret: file:/s\n    token_url: https://a.example/t\n",
		"secret in a bool":          "providers:\n  google:\n    rotates: " + s + "\n",
		"secret in a duration":      "providers:\n  google:\n    keepalive: " + s + "\n",
		"secret in a URL":           "providers:\n  google:\n    token_url: https://" + s + "@x.example/\n",
		"secret in a bad URL":       "providers:\n  google:\n    token_url: " + s + "\n",
		"secret in auth_method":     "providers:\n  google:\n    auth_method: " + s + "\n",
		"secret in scopes":          "providers:\n  google:\n    scopes: [\"" + s + " x\"]\n",
		"secret in a header":        "providers:\n  google:\n    refresh: {headers: {X-Key: \"" + s + "\\n\"}}\n",
		"secret with control chars": "providers:\n  google:\n    client_secret: \"" + s + "\\u0001\"\n",
		"secret as a list":          "providers:\n  google:\n    client_secret: [" + s + "]\n",
		"secret in a number":        "providers:\n  google:\n    burst: " + s + "\n",
		"secret in cron":            "providers:\n  google:\n    sweep_schedule: " + s + "\n",
	}
	for name, yml := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			_, err := parse(t, yml, env, files)
			if err == nil {
				t.Fatal("Parse succeeded")
			}
			if strings.Contains(err.Error(), s) || strings.Contains(err.Error(), "s3cr3t") {
				t.Errorf("error leaks the secret: %v", err)
			}
		})
	}
}

func TestSecretDoesNotPrint(t *testing.T) {
	t.Parallel()
	c := mustParse(t, "providers:\n  google:\n    client_secret: env:S\n", map[string]string{"S": "s3cr3t"}, nil)
	p, _ := c.Provider("google")
	for _, s := range []string{p.ClientSecret.String(), strings.Join([]string{p.ClientSecret.GoString()}, "")} {
		if strings.Contains(s, "s3cr3t") {
			t.Errorf("secret printed: %s", s)
		}
	}
}
