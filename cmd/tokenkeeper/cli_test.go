package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/pflag"

	"github.com/tokenkeeper/tokenkeeper"
	"github.com/tokenkeeper/tokenkeeper/internal/providertest"
)

func TestConfigPrecedence(t *testing.T) {
	t.Parallel()
	file := filepath.Join(t.TempDir(), "tokenkeeper.yaml")
	if err := os.WriteFile(file, []byte("listen: 127.0.0.1:7001\nworkers: 3\nlog_format: json\nbackoff_max: 2h\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	load := func(env map[string]string, args ...string) Config {
		t.Helper()
		fs := pflag.NewFlagSet("test", pflag.ContinueOnError)
		addConfigFlags(fs)
		fs.String("listen", defaultConfig().Listen, "")
		fs.Int("workers", defaultConfig().Workers, "")
		if err := fs.Parse(args); err != nil {
			t.Fatal(err)
		}
		cfg, err := loadConfig(fs, func(k string) string { return env[k] })
		if err != nil {
			t.Fatal(err)
		}
		return cfg
	}
	d := load(nil)
	if d.Listen != "127.0.0.1:8080" || d.DatabaseURL != "sqlite:tokenkeeper.db" || d.Workers != 8 {
		t.Fatalf("defaults: %+v", d)
	}
	f := load(map[string]string{"TOKENKEEPER_CONFIG": file})
	if f.Listen != "127.0.0.1:7001" || f.Workers != 3 || f.LogFormat != "json" || f.BackoffMax.Hours() != 2 {
		t.Fatalf("file: %+v", f)
	}
	e := load(map[string]string{"TOKENKEEPER_CONFIG": file, "TOKENKEEPER_LISTEN": "127.0.0.1:7002"})
	if e.Listen != "127.0.0.1:7002" || e.Workers != 3 {
		t.Fatalf("environment over file: %+v", e)
	}
	fl := load(map[string]string{"TOKENKEEPER_CONFIG": file, "TOKENKEEPER_LISTEN": "127.0.0.1:7002"}, "--listen", "127.0.0.1:7003")
	if fl.Listen != "127.0.0.1:7003" || fl.Workers != 3 {
		t.Fatalf("flag over environment: %+v", fl)
	}
}

func TestConfigRejectsBadValues(t *testing.T) {
	t.Parallel()
	for name, env := range map[string]map[string]string{
		"log format":      {"TOKENKEEPER_LOG_FORMAT": "xml"},
		"lease too short": {"TOKENKEEPER_LEASE_TTL": "10s"},
		"not a duration":  {"TOKENKEEPER_BACKOFF_BASE": "soon"},
		"no workers":      {"TOKENKEEPER_WORKERS": "0"},
		"key cache < 0":   {"TOKENKEEPER_API_KEY_CACHE_TTL": "-1s"},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			fs := pflag.NewFlagSet("test", pflag.ContinueOnError)
			addConfigFlags(fs)
			if _, err := loadConfig(fs, func(k string) string { return env[k] }); err == nil {
				t.Fatal("accepted")
			}
		})
	}
}

// TestCommands runs the CLI as an operator would: providers, import, list,
// show, refresh, delete, API keys, migrate, version.
func TestCommands(t *testing.T) {
	t.Parallel()
	prov := providertest.New(providertest.Options{Rotate: true})
	t.Cleanup(prov.Close)
	env := newTestEnv(t, map[string]*tokenkeeper.Provider{"acme": prov.Provider("acme")})
	mustRun := func(stdin string, args ...string) string {
		t.Helper()
		out, err := env.run(stdin, args...)
		if err != nil {
			t.Fatalf("%v: %v\n%s", args, err, out)
		}
		return out
	}
	if out := mustRun("", "version"); !strings.HasPrefix(out, "tokenkeeper ") {
		t.Fatalf("version: %q", out)
	}
	if out := mustRun("", "migrate"); !strings.Contains(out, "database schema at version") {
		t.Fatalf("migrate: %q", out)
	}
	list := mustRun("", "providers", "list")
	for _, name := range []string{"acme", "google", "linkedin", "github", "notion"} {
		if !strings.Contains(list, name) {
			t.Fatalf("providers list lacks %s:\n%s", name, list)
		}
	}
	show := mustRun("", "providers", "show", "acme")
	if strings.Contains(show, "providertest-secret") || !strings.Contains(show, prov.URL()) {
		t.Fatalf("providers show leaks the secret or lacks the URL:\n%s", show)
	}
	if _, err := env.run("", "providers", "show", "nope"); err == nil {
		t.Fatal("providers show of an unknown provider succeeded")
	}

	g := prov.Grant("read")
	in := fmt.Sprintf(`[{"user_id":"u1","provider":"acme","access_token":%q,"refresh_token":%q,"expires_in":3600},
		{"user_id":"u2","provider":"acme","access_token":"only-access","expires_in":60}]`, g.AccessToken.Reveal(), g.RefreshToken.Reveal())
	imported := mustRun(in, "connections", "import")
	if strings.Count(imported, "imported conn_") != 2 {
		t.Fatalf("import: %s", imported)
	}
	id := strings.Fields(strings.Split(imported, "\n")[0])[1]
	if out := mustRun("", "connections", "list", "--provider", "acme"); !strings.Contains(out, id) || !strings.Contains(out, "2 connection(s)") {
		t.Fatalf("list:\n%s", out)
	}
	if out := mustRun("", "connections", "list", "--expiring-within", "5m"); !strings.Contains(out, "1 connection(s)") {
		t.Fatalf("list --expiring-within 5m:\n%s", out)
	}
	if out := mustRun("", "connections", "refresh", id); !strings.Contains(out, "connected") {
		t.Fatalf("refresh: %s", out)
	}
	show = mustRun("", "connections", "show", id)
	if !strings.Contains(show, "refresh history") || !strings.Contains(show, "success") {
		t.Fatalf("show:\n%s", show)
	}
	if out := mustRun("", "connections", "delete", id); !strings.Contains(out, "disconnected") {
		t.Fatalf("delete: %s", out)
	}
	if out := mustRun("", "connections", "list", "--status", "disconnected"); !strings.Contains(out, "1 connection(s)") {
		t.Fatalf("list --status disconnected:\n%s", out)
	}
	if _, err := env.run(`{"user_id":"u3","provider":"nope","access_token":"x"}`, "connections", "import"); err == nil {
		t.Fatal("import of an unknown provider succeeded")
	}

	created := mustRun("", "apikeys", "create", "--name", "ci", "--scopes", "admin")
	keyID := strings.Fields(created)[3]
	if out := mustRun("", "apikeys", "list"); !strings.Contains(out, keyID) || strings.Contains(out, "tk_") {
		t.Fatalf("apikeys list:\n%s", out)
	}
	mustRun("", "apikeys", "revoke", keyID)
	if _, err := env.run("", "apikeys", "create", "--scopes", "root"); err == nil {
		t.Fatal("apikeys create with an unknown scope succeeded")
	}
	assertNoPlaintext(t, env.dir, env.logs.String(), g.AccessToken.Reveal(), g.RefreshToken.Reveal(), "only-access")
}

// TestSweepCommand: one pass, a summary, and exit status 1 only when a
// refresh failed for a reason other than a transient one.
func TestSweepCommand(t *testing.T) {
	t.Parallel()
	prov := providertest.New(providertest.Options{Rotate: true})
	t.Cleanup(prov.Close)
	env := newTestEnv(t, map[string]*tokenkeeper.Provider{"acme": prov.Provider("acme")})
	good, bad := prov.Grant("read"), prov.Grant("read")
	in := fmt.Sprintf(`{"user_id":"u1","provider":"acme","access_token":%q,"refresh_token":%q,"expires_in":3600}
{"user_id":"u2","provider":"acme","access_token":%q,"refresh_token":%q,"expires_in":3600}`,
		good.AccessToken.Reveal(), good.RefreshToken.Reveal(), bad.AccessToken.Reveal(), bad.RefreshToken.Reveal())
	if out, err := env.run(in, "connections", "import"); err != nil {
		t.Fatalf("import: %v %s", err, out)
	}
	out, err := env.run("", "sweep", "--expiring-within", "2h", "--dry-run")
	if err != nil || !strings.Contains(out, "dry run: checked 2, refreshed 0") {
		t.Fatalf("dry run: %v\n%s", err, out)
	}
	if prov.Refreshes() != 0 {
		t.Fatal("a dry run refreshed")
	}
	out, err = env.run("", "sweep")
	if err != nil || !strings.Contains(out, "checked 0") {
		t.Fatalf("sweep of due connections (none due): %v\n%s", err, out)
	}
	prov.RevokeGrant(bad.RefreshToken.Reveal())
	out, err = env.run("", "sweep", "--expiring-within", "2h", "--verbose")
	if code, ok := err.(exitCode); !ok || code != 1 {
		t.Fatalf("sweep with a revoked grant: err %v, want exit status 1\n%s", err, out)
	}
	if !strings.Contains(out, "checked 2, refreshed 1, failed 1 [revoked 1]") {
		t.Fatalf("summary:\n%s", out)
	}
	out, err = env.run("", "sweep", "--expiring-within", "2h", "--json")
	if err != nil || !strings.Contains(out, `"checked": 1`) {
		t.Fatalf("second sweep (the revoked one is needs_reauth now and not selected): %v\n%s", err, out)
	}
}
