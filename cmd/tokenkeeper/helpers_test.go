package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"

	"github.com/tokenkeeper/tokenkeeper"
	"github.com/tokenkeeper/tokenkeeper/internal/testkit"
)

type syncBuffer = testkit.SyncBuffer

// testEnv is a tokenkeeper home: a directory with the database, the key
// file and the providers file, and the environment the commands see.
type testEnv struct {
	t    *testing.T
	dir  string
	vars map[string]string
	logs *syncBuffer
}

func newTestEnv(t *testing.T, providers map[string]*tokenkeeper.Provider) *testEnv {
	t.Helper()
	dir := t.TempDir()
	e := &testEnv{t: t, dir: dir, logs: &syncBuffer{}, vars: map[string]string{
		"TOKENKEEPER_DATABASE_URL": "sqlite:" + filepath.Join(dir, "tokenkeeper.db"),
		"TOKENKEEPER_LOG_FORMAT":   "json",
		"TOKENKEEPER_LOG_LEVEL":    "debug",
		"TOKENKEEPER_LISTEN":       "127.0.0.1:0",
	}}
	if len(providers) > 0 {
		path := filepath.Join(dir, "providers.yaml")
		if err := os.WriteFile(path, []byte(providersYAML(providers)), 0o600); err != nil {
			t.Fatal(err)
		}
		e.vars["TOKENKEEPER_PROVIDERS"] = path
	}
	return e
}

func (e *testEnv) getenv(k string) string { return e.vars[k] }

// run runs one command to completion and returns its standard output.
func (e *testEnv) run(stdin string, args ...string) (string, error) {
	var out bytes.Buffer
	err := run(context.Background(), args, e.getenv, strings.NewReader(stdin), &out, e.logs)
	return out.String(), err
}

// apiKey creates an API key with the given scopes and returns it.
func (e *testEnv) apiKey(scopes string) string {
	e.t.Helper()
	out, err := e.run("", "apikeys", "create", "--name", "test", "--scopes", scopes)
	if err != nil {
		e.t.Fatalf("apikeys create: %v", err)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	return lines[len(lines)-1]
}

// serve starts `tokenkeeper serve` in this process and returns its base URL;
// the server stops when the test ends.
func (e *testEnv) serve() string {
	e.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"serve"}, e.getenv, strings.NewReader(""), pw, e.logs)
		pw.Close()
	}()
	first := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(pr)
		if sc.Scan() {
			first <- sc.Text()
		}
		close(first)
		io.Copy(io.Discard, pr)
	}()
	var line string
	select {
	case line = <-first:
	case err := <-done:
		cancel()
		e.t.Fatalf("serve exited: %v\n%s", err, e.logs.String())
	case <-time.After(30 * time.Second):
		cancel()
		e.t.Fatal("serve did not start")
	}
	e.t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				e.t.Errorf("serve: %v", err)
			}
		case <-time.After(30 * time.Second):
			e.t.Error("serve did not stop")
		}
	})
	const prefix = "tokenkeeper listening on "
	if !strings.HasPrefix(line, prefix) {
		e.t.Fatalf("unexpected first line %q", line)
	}
	return strings.TrimPrefix(line, prefix)
}

// call sends a JSON request and decodes the JSON answer into out (when non-nil).
func call(t *testing.T, method, url, key string, body any, out any) int {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if out != nil && len(data) > 0 {
		if err := json.Unmarshal(data, out); err != nil {
			t.Fatalf("%s %s: %d %s: %v", method, url, resp.StatusCode, data, err)
		}
	}
	return resp.StatusCode
}

// providersYAML writes a providers file defining each provider in full.
func providersYAML(providers map[string]*tokenkeeper.Provider) string {
	var b strings.Builder
	b.WriteString("providers:\n")
	for name, p := range providers {
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
		if len(p.Scopes) > 0 {
			fmt.Fprintf(&b, "    scopes: [%s]\n", strings.Join(p.Scopes, ", "))
		}
		if p.RateLimit > 0 {
			fmt.Fprintf(&b, "    rate_limit: %v\n    burst: %d\n", p.RateLimit, p.Burst)
		}
	}
	return b.String()
}

// assertNoPlaintext fails when any secret appears in the logs or in a file
// under dir (the database, its WAL, the key file).
func assertNoPlaintext(t *testing.T, dir, logs string, secrets ...string) {
	t.Helper()
	var files []string
	filepath.Walk(dir, func(p string, info os.FileInfo, err error) error {
		if err == nil && !info.IsDir() && !strings.HasSuffix(p, ".yaml") {
			files = append(files, p)
		}
		return nil
	})
	for _, s := range secrets {
		if s == "" {
			continue
		}
		if strings.Contains(logs, s) {
			t.Errorf("a token appears in the logs")
		}
		for _, f := range files {
			data, err := os.ReadFile(f)
			if err == nil && bytes.Contains(data, []byte(s)) {
				t.Errorf("a token appears in plaintext in %s", filepath.Base(f))
			}
		}
	}
}

// loadServeConfig loads the configuration serve would run with, given the
// environment vars and serve's command-line args.
func loadServeConfig(t *testing.T, vars map[string]string, args ...string) (Config, error) {
	t.Helper()
	fs := pflag.NewFlagSet("test", pflag.ContinueOnError)
	addConfigFlags(fs)
	fs.AddFlagSet(serveCommand(&env{}).Flags())
	if err := fs.Parse(args); err != nil {
		t.Fatal(err)
	}
	return loadConfig(fs, func(k string) string { return vars[k] })
}
