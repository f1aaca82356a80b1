package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tokenkeeper/tokenkeeper"
	"github.com/tokenkeeper/tokenkeeper/internal/testenv"
)

// cluster is one test's tokenkeeper deployment: a PostgreSQL schema of its
// own, a key ring and a providers file shared by every process, and the
// replicas (`tokenkeeper serve` processes) started on them. Everything the
// processes write goes to files in the test's temporary directory.
type cluster struct {
	t   testing.TB
	bin string
	dir string
	// env is the TOKENKEEPER_* settings every process gets.
	env map[string]string
	// db is a pool on the cluster's schema for the test's own queries.
	db *pgxpool.Pool

	mu       sync.Mutex
	replicas []*replica
}

// newCluster creates the schema, the key ring and the providers file, and
// registers the cleanup that kills what is still running and drops the
// schema. settings are extra TOKENKEEPER_* variables for every process.
// It ends the test through testenv when PostgreSQL is not available.
func newCluster(t testing.TB, providers map[string]*tokenkeeper.Provider, settings map[string]string) *cluster {
	t.Helper()
	base := testenv.PostgresURL(t)
	c := &cluster{t: t, bin: tokenkeeperBinary(t), dir: t.TempDir()}
	dbURL := newSchema(t, base)
	c.env = map[string]string{
		"TOKENKEEPER_DATABASE_URL": dbURL,
		"TOKENKEEPER_LISTEN":       "127.0.0.1:0",
		"TOKENKEEPER_LOG_FORMAT":   "json",
		"TOKENKEEPER_LOG_LEVEL":    "info",
	}
	keys := strings.TrimSpace(c.run("", "keys", "generate"))
	if keys == "" {
		t.Fatal("keys generate printed nothing")
	}
	c.env["TOKENKEEPER_ENCRYPTION_KEYS"] = keys
	if len(providers) > 0 {
		path := filepath.Join(c.dir, "providers.yaml")
		if err := os.WriteFile(path, []byte(providersYAML(providers)), 0o600); err != nil {
			t.Fatal(err)
		}
		c.env["TOKENKEEPER_PROVIDERS"] = path
	}
	maps.Copy(c.env, settings)

	pool, err := pgxpool.New(context.Background(), dbURL)
	if err != nil {
		t.Fatalf("open the test pool: %v", err)
	}
	c.db = pool
	t.Cleanup(func() {
		c.killAll()
		pool.Close()
		if t.Failed() {
			c.dumpLogs()
		}
	})
	return c
}

// environ returns the environment of a process: ours without any
// TOKENKEEPER_* variable, plus the cluster's settings and extra.
func (c *cluster) environ(extra map[string]string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "TOKENKEEPER_") {
			env = append(env, kv)
		}
	}
	all := maps.Clone(c.env)
	maps.Copy(all, extra)
	for _, k := range slices.Sorted(maps.Keys(all)) {
		env = append(env, k+"="+all[k])
	}
	return env
}

// run runs a tokenkeeper command to completion with the cluster's settings
// and returns its standard output; it fails the test when the command fails.
func (c *cluster) run(stdin string, args ...string) string {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, c.bin, args...)
	cmd.Dir = c.dir
	cmd.Env = c.environ(nil)
	cmd.Stdin = strings.NewReader(stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		c.t.Fatalf("tokenkeeper %s: %v\n%s", strings.Join(args, " "), err, tail(stderr.String(), 4000))
	}
	return stdout.String()
}

// apiKey creates an API key with scopes through `tokenkeeper apikeys
// create` and returns it (the last line of its output).
func (c *cluster) apiKey(scopes string) string {
	c.t.Helper()
	out := strings.Split(strings.TrimSpace(c.run("", "apikeys", "create", "--name", "e2e", "--scopes", scopes)), "\n")
	return out[len(out)-1]
}

// startReplicas starts n replicas at once (so that they migrate
// concurrently, under the advisory lock) and waits for all of them to
// listen. Replicas are named a, b, c… in the order the cluster created them.
func (c *cluster) startReplicas(n int, extra map[string]string) []*replica {
	c.t.Helper()
	rs := make([]*replica, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		rs[i] = c.newReplica(extra)
		wg.Go(func() { errs[i] = rs[i].start() })
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			c.t.Fatal(err)
		}
	}
	return rs
}

func (c *cluster) newReplica(extra map[string]string) *replica {
	c.mu.Lock()
	defer c.mu.Unlock()
	name := fmt.Sprintf("r%d", len(c.replicas)+1)
	if len(c.replicas) < 26 {
		name = string(rune('a' + len(c.replicas)))
	}
	r := &replica{c: c, name: name, extra: extra}
	c.replicas = append(c.replicas, r)
	return r
}

// killAll kills every replica still running (test cleanup).
func (c *cluster) killAll() {
	c.mu.Lock()
	rs := slices.Clone(c.replicas)
	c.mu.Unlock()
	for _, r := range rs {
		if p := r.current(); p != nil {
			p.kill()
		}
	}
}

// dumpLogs logs the end of every process's log, for a failed test.
func (c *cluster) dumpLogs() {
	paths, _ := filepath.Glob(filepath.Join(c.dir, "*.log"))
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err == nil {
			c.t.Logf("--- %s (last lines):\n%s", filepath.Base(p), tail(string(b), 3000))
		}
	}
}

// logs returns the concatenated contents of every process log so far.
func (c *cluster) logs() string {
	paths, _ := filepath.Glob(filepath.Join(c.dir, "*.log"))
	var b strings.Builder
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if err == nil {
			b.Write(data)
		}
	}
	return b.String()
}

// refreshesLogged counts the refresh attempts each replica logged (one
// "refresh" line per attempt at the provider), over all its runs.
func (c *cluster) refreshesLogged() map[string]int {
	paths, _ := filepath.Glob(filepath.Join(c.dir, "*.log"))
	out := map[string]int{}
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		name, _, _ := strings.Cut(filepath.Base(p), ".")
		out[name] += strings.Count(string(data), `"msg":"refresh"`)
	}
	return out
}

// newSchema creates an empty schema e2e_<random>, dropped with everything
// in it when the test ends, and returns base with search_path set to it.
func newSchema(t testing.TB, base string) string {
	t.Helper()
	var b [6]byte
	rand.Read(b[:])
	schema := "e2e_" + hex.EncodeToString(b[:])
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	pool, err := pgxpool.New(ctx, base)
	if err != nil {
		t.Fatalf("connect to the test database: %v", err)
	}
	defer pool.Close()
	if _, err := pool.Exec(ctx, `CREATE SCHEMA `+schema); err != nil {
		t.Fatalf("create schema: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		pool, err := pgxpool.New(ctx, base)
		if err != nil {
			t.Errorf("connect to drop schema %s: %v", schema, err)
			return
		}
		defer pool.Close()
		if _, err := pool.Exec(ctx, `DROP SCHEMA `+schema+` CASCADE`); err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
		}
	})
	sep := "?"
	if strings.Contains(base, "?") {
		sep = "&"
	}
	return base + sep + "search_path=" + schema
}

// providersYAML writes a providers file defining each provider in full.
func providersYAML(providers map[string]*tokenkeeper.Provider) string {
	var b strings.Builder
	b.WriteString("providers:\n")
	for _, name := range slices.Sorted(maps.Keys(providers)) {
		p := providers[name]
		fmt.Fprintf(&b, "  %s:\n", name)
		fmt.Fprintf(&b, "    display_name: %q\n", p.DisplayName)
		fmt.Fprintf(&b, "    auth_url: %q\n", p.AuthURL)
		fmt.Fprintf(&b, "    token_url: %q\n", p.TokenURL)
		if p.RevokeURL != "" {
			fmt.Fprintf(&b, "    revoke_url: %q\n", p.RevokeURL)
		}
		fmt.Fprintf(&b, "    auth_method: %s\n", p.AuthMethod)
		fmt.Fprintf(&b, "    pkce: %s\n", p.PKCE)
		fmt.Fprintf(&b, "    client_id: %q\n", p.ClientID)
		fmt.Fprintf(&b, "    client_secret: %q\n", p.ClientSecret.Reveal())
		fmt.Fprintf(&b, "    rotates: %v\n", p.Rotates)
		if p.RotationGrace > 0 {
			fmt.Fprintf(&b, "    rotation_grace: %s\n", p.RotationGrace)
		}
		if p.AccessTokenLifetime > 0 {
			fmt.Fprintf(&b, "    access_token_lifetime: %s\n", p.AccessTokenLifetime)
		}
		if len(p.Scopes) > 0 {
			fmt.Fprintf(&b, "    scopes: [%s]\n", strings.Join(p.Scopes, ", "))
		}
		if p.RateLimit > 0 {
			fmt.Fprintf(&b, "    rate_limit: %v\n    burst: %d\n", p.RateLimit, p.Burst)
		}
	}
	return b.String()
}

// tail returns at most the last n bytes of s.
func tail(s string, n int) string {
	if len(s) > n {
		return "…" + s[len(s)-n:]
	}
	return s
}
