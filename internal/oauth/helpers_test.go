package oauth_test

import (
	"bytes"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/tokenkeeper/tokenkeeper"
	"github.com/tokenkeeper/tokenkeeper/internal/oauth"
)

// captured is one request as a test server saw it.
type captured struct {
	Method string
	Path   string
	Query  url.Values
	Header http.Header
	Body   string
}

// recorder is a token endpoint that records requests and answers each with
// a fixed response.
type recorder struct {
	srv    *httptest.Server
	mu     sync.Mutex
	reqs   []captured
	status int
	header http.Header
	body   string
}

// newRecorder starts a recording server answering status, header and body.
func newRecorder(t *testing.T, status int, header http.Header, body string) *recorder {
	t.Helper()
	r := &recorder{status: status, header: header, body: body}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		b, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		r.reqs = append(r.reqs, captured{Method: req.Method, Path: req.URL.Path, Query: req.URL.Query(), Header: req.Header.Clone(), Body: string(b)})
		r.mu.Unlock()
		for k, vs := range r.header {
			w.Header()[k] = vs
		}
		if r.header == nil {
			w.Header().Set("Content-Type", "application/json")
		}
		w.WriteHeader(r.status)
		_, _ = io.WriteString(w, r.body)
	}))
	t.Cleanup(r.srv.Close)
	return r
}

// requests returns the requests recorded so far.
func (r *recorder) requests() []captured {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]captured(nil), r.reqs...)
}

// only returns the single request recorded, failing when there is not exactly one.
func (r *recorder) only(t *testing.T) captured {
	t.Helper()
	reqs := r.requests()
	if len(reqs) != 1 {
		t.Fatalf("server received %d requests, want exactly 1", len(reqs))
	}
	return reqs[0]
}

// form parses a captured form body.
func (c captured) form(t *testing.T) url.Values {
	t.Helper()
	v, err := url.ParseQuery(c.Body)
	if err != nil {
		t.Fatalf("parse form body %q: %v", c.Body, err)
	}
	return v
}

// providerAt returns a provider whose token, revocation and auth URLs are under base.
func providerAt(base string, method tokenkeeper.AuthMethod) *tokenkeeper.Provider {
	return &tokenkeeper.Provider{
		Name:         "acme",
		AuthURL:      base + "/authorize",
		TokenURL:     base + "/token",
		RevokeURL:    base + "/revoke",
		AuthMethod:   method,
		ClientID:     "client-id",
		ClientSecret: clientSecret,
	}
}

// newClient returns a client with a fixed clock and a short timeout.
func newClient(t *testing.T, mod func(*oauth.Options)) *oauth.Client {
	t.Helper()
	o := oauth.Options{Now: func() time.Time { return t0 }, Timeout: 5 * time.Second}
	if mod != nil {
		mod(&o)
	}
	return oauth.New(o)
}

// logBuffer is a concurrency-safe buffer for a slog handler.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// debugLogger returns a logger writing every level to buf.
func debugLogger(buf *logBuffer) *slog.Logger {
	return slog.New(slog.NewTextHandler(buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// within runs f and fails the test when it does not return within limit: a
// watchdog against a client that is not bounded by its timeout.
func within(t *testing.T, limit time.Duration, f func() tokenkeeper.Outcome) tokenkeeper.Outcome {
	t.Helper()
	done := make(chan tokenkeeper.Outcome, 1)
	go func() { done <- f() }()
	select {
	case o := <-done:
		return o
	case <-time.After(limit):
		t.Fatalf("call did not return within %v", limit)
		return tokenkeeper.Outcome{}
	}
}
