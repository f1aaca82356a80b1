// Package oidctest runs a real OAuth2 authorization server for tests: npm
// oidc-provider (testdata/oidcprovider/server.mjs) on 127.0.0.1, one Node
// process per Start, and drives it from Go: authorization code grants with
// PKCE through its login and consent forms, introspection, revocation,
// counters of what it received, and injected failures.
//
// The server knows four clients, each with the secret "<client id>-secret":
// rotating-basic, rotating-post, static-basic and static-post. rotating-*
// clients get a new refresh token on every refresh, and a replay of a consumed
// one revokes the whole grant (reuse detection); static-* keep theirs. The
// suffix names the client authentication style. Grants live in the process's
// memory only.
//
// Start needs Node.js; it skips the test when node is missing, unless CI
// requires it (see internal/testenv). It runs `npm ci` in testdata/oidcprovider
// once when node_modules is missing.
package oidctest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tokenkeeper/tokenkeeper/internal/testenv"
)

// DefaultRedirectURI is the redirect URI registered when Options.RedirectURIs is empty.
const DefaultRedirectURI = "http://127.0.0.1:8080/v1/oauth/callback"

// defaultRefreshTokenTTL is server.mjs's RT_TTL default.
const defaultRefreshTokenTTL = 86400 * time.Second

// startTimeout bounds how long Start waits for the server to print its issuer.
const startTimeout = 30 * time.Second

// Options configure one server. The zero value is a server with the default
// redirect URI, 300 s access tokens, 86400 s refresh tokens, no rotation grace
// and lenient client authentication.
type Options struct {
	// RedirectURIs are registered for every client (default DefaultRedirectURI).
	RedirectURIs []string
	// AnyLoopbackPort registers the clients as native apps, so a registered
	// http://127.0.0.1/... redirect URI matches on any port (RFC 8252 §7.3):
	// for callbacks whose port is only known after the server started.
	AnyLoopbackPort bool
	// AccessTokenTTL and RefreshTokenTTL are token lifetimes in whole seconds
	// (zero: the defaults). A refresh token's lifetime runs from its issue: a
	// static client's never grows, a rotating client's new token gets a full one.
	AccessTokenTTL, RefreshTokenTTL time.Duration
	// RotationGrace, in whole seconds, keeps a rotated refresh token usable for
	// that long after its first use; a replay after it is reuse. Zero: none.
	RotationGrace time.Duration
	// StrictClientAuth answers 401 invalid_client at the token endpoint when a
	// client authenticates with the style it was not registered with.
	StrictClientAuth bool
}

// Server is a running oidc-provider. Its endpoints come from the server's
// discovery document.
type Server struct {
	Issuer        string // http://127.0.0.1:PORT
	AuthURL       string // authorization endpoint
	TokenURL      string // token endpoint
	RevokeURL     string // RFC 7009 revocation endpoint
	IntrospectURL string // RFC 7662 introspection endpoint

	opts   Options
	client *http.Client
}

// Start runs a server for the test and stops it in t.Cleanup. Node's output
// is logged only when the test failed. It ends the test through
// testenv.Missing when node or the npm packages are unavailable, and fails it
// when the server does not start.
func Start(t testing.TB, o Options) *Server {
	t.Helper()
	node := testenv.LookPath(t, testenv.Node, "node")
	dir := serverDir(t)
	ensureDeps(t, dir)
	if len(o.RedirectURIs) == 0 {
		o.RedirectURIs = []string{DefaultRedirectURI}
	}

	env, err := o.environ()
	if err != nil {
		t.Fatalf("oidctest: %v", err)
	}
	cmd := exec.Command(node, "server.mjs")
	cmd.Dir = dir
	cmd.Env = env
	ownGroup(cmd)
	stdin, err := cmd.StdinPipe() // closes when the test binary dies: EXIT_WITH_STDIN
	if err != nil {
		t.Fatalf("oidctest: stdin pipe: %v", err)
	}
	output := &lockedBuffer{}
	issuer := make(chan string, 1)
	cmd.Stdout = &firstLine{line: issuer, rest: output}
	cmd.Stderr = output
	if err := cmd.Start(); err != nil {
		t.Fatalf("oidctest: start node: %v", err)
	}
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(exited)
	}()
	t.Cleanup(func() {
		killGroup(cmd)
		stdin.Close()
		<-exited
		if t.Failed() {
			t.Logf("oidctest: oidc-provider output:\n%s", output.String())
		}
	})

	var s *Server
	select {
	case line := <-issuer:
		if !strings.HasPrefix(line, "http://127.0.0.1:") {
			t.Fatalf("oidctest: oidc-provider printed %q, not its issuer", line)
		}
		s = &Server{Issuer: line, opts: o, client: &http.Client{Timeout: 10 * time.Second}}
	case <-exited:
		t.Fatalf("oidctest: oidc-provider exited before printing its issuer: %v", cmd.ProcessState)
	case <-time.After(startTimeout):
		t.Fatalf("oidctest: oidc-provider printed no issuer within %v", startTimeout)
	}
	s.discover(t)
	return s
}

// environ returns the server's environment: ours, without PORT and every
// variable server.mjs reads, plus o's settings.
func (o Options) environ() ([]string, error) {
	settings := map[string]string{
		"REDIRECT_URIS":   strings.Join(o.RedirectURIs, ","),
		"EXIT_WITH_STDIN": "1",
	}
	for name, d := range map[string]time.Duration{"AT_TTL": o.AccessTokenTTL, "RT_TTL": o.RefreshTokenTTL, "ROTATION_GRACE": o.RotationGrace} {
		if d < 0 || d%time.Second != 0 {
			return nil, fmt.Errorf("%s must be a non-negative whole number of seconds, got %v", name, d)
		}
		if d > 0 {
			settings[name] = strconv.FormatInt(int64(d/time.Second), 10)
		}
	}
	if o.StrictClientAuth {
		settings["STRICT_CLIENT_AUTH"] = "1"
	}
	if o.AnyLoopbackPort {
		settings["LOOPBACK_ANY_PORT"] = "1"
	}
	ours := map[string]bool{"PORT": true, "REDIRECT_URIS": true, "AT_TTL": true, "RT_TTL": true,
		"ROTATION_GRACE": true, "STRICT_CLIENT_AUTH": true, "LOOPBACK_ANY_PORT": true, "EXIT_WITH_STDIN": true}
	var env []string
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		if !ours[name] {
			env = append(env, kv)
		}
	}
	for name, v := range settings {
		env = append(env, name+"="+v)
	}
	return env, nil
}

// firstLine sends the first line written to it, without its newline, to
// line, and everything after that line to rest.
type firstLine struct {
	line chan<- string // buffered, receives one value
	rest io.Writer
	buf  []byte
	sent bool
}

func (w *firstLine) Write(p []byte) (int, error) {
	n := len(p)
	if !w.sent {
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			w.buf = append(w.buf, p...)
			return n, nil
		}
		w.line <- strings.TrimSpace(string(append(w.buf, p[:i]...)))
		w.sent, w.buf, p = true, nil, p[i+1:]
	}
	if _, err := w.rest.Write(p); err != nil {
		return 0, err
	}
	return n, nil
}

// discover reads the endpoints from the discovery document.
func (s *Server) discover(t testing.TB) {
	t.Helper()
	var doc struct {
		Authorization string `json:"authorization_endpoint"`
		Token         string `json:"token_endpoint"`
		Revocation    string `json:"revocation_endpoint"`
		Introspection string `json:"introspection_endpoint"`
	}
	s.getJSON(t, "/.well-known/openid-configuration", &doc)
	if doc.Authorization == "" || doc.Token == "" || doc.Revocation == "" || doc.Introspection == "" {
		t.Fatalf("oidctest: discovery document lacks an endpoint: %+v", doc)
	}
	s.AuthURL, s.TokenURL, s.RevokeURL, s.IntrospectURL = doc.Authorization, doc.Token, doc.Revocation, doc.Introspection
}

// getJSON decodes the JSON answer to GET issuer+path into v.
func (s *Server) getJSON(t testing.TB, path string, v any) {
	t.Helper()
	resp, err := s.client.Get(s.Issuer + path)
	if err != nil {
		t.Fatalf("oidctest: GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("oidctest: GET %s: status %d", path, resp.StatusCode)
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatalf("oidctest: decode %s: %v", path, err)
	}
}

// lockedBuffer is a bytes.Buffer safe for concurrent writers.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
