package httpapi

import (
	"bytes"
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tokenkeeper/tokenkeeper"
	"github.com/tokenkeeper/tokenkeeper/internal/apikey"
)

func TestKeyedLimiter(t *testing.T) {
	t.Parallel()
	t.Run("nil allows everything", func(t *testing.T) {
		t.Parallel()
		var l *keyedLimiter
		if newKeyedLimiter(0, 5, 10) != nil {
			t.Fatal("a zero rate made a limiter")
		}
		if ok, _ := l.allow("k", baseTime); !ok {
			t.Error("nil limiter refused")
		}
		if refund, ok, _ := l.take("k", baseTime); !ok {
			t.Error("nil limiter refused a take")
		} else {
			refund()
		}
	})
	t.Run("burst then refill", func(t *testing.T) {
		t.Parallel()
		l := newKeyedLimiter(2, 3, 10) // 2/s, bursts of 3
		for i := range 3 {
			if ok, _ := l.allow("k", baseTime); !ok {
				t.Fatalf("request %d of the burst refused", i+1)
			}
		}
		ok, wait := l.allow("k", baseTime)
		if ok || wait != 500*time.Millisecond {
			t.Fatalf("4th request: ok=%v wait=%v, want refused for 500ms", ok, wait)
		}
		if _, ok, wait := l.take("k", baseTime); ok || wait != 500*time.Millisecond {
			t.Errorf("take from an empty bucket: ok=%v wait=%v", ok, wait)
		}
		if ok, _ := l.allow("other", baseTime); !ok {
			t.Error("another key shares the bucket")
		}
		if ok, _ := l.allow("k", baseTime.Add(500*time.Millisecond)); !ok {
			t.Error("no token after 500ms at 2/s")
		}
	})
	t.Run("refund gives the token back", func(t *testing.T) {
		t.Parallel()
		l := newKeyedLimiter(1, 2, 10)
		for range 5 {
			refund, ok, _ := l.take("k", baseTime)
			if !ok {
				t.Fatal("a refunded take used up the bucket")
			}
			refund()
		}
		for range 2 {
			if _, ok, _ := l.take("k", baseTime); !ok {
				t.Fatal("the burst is not whole after refunds")
			}
		}
		if _, ok, _ := l.take("k", baseTime); ok {
			t.Error("a third take from a bucket of 2")
		}
	})
	t.Run("full table spills and prunes", func(t *testing.T) {
		t.Parallel()
		l := newKeyedLimiter(1, 1, 2)
		l.allow("a", baseTime)
		l.allow("b", baseTime)
		// The table is full of busy keys: new keys share the spill bucket.
		if ok, _ := l.allow("c", baseTime); !ok {
			t.Fatal("the spill bucket starts full")
		}
		if ok, _ := l.allow("d", baseTime); ok {
			t.Fatal("a new key got a fresh bucket in a full table")
		}
		if _, ok, _ := l.take("e", baseTime); ok {
			t.Error("a new key in a full table does not share the empty spill bucket")
		}
		// A second later a and b are idle (full again) and are dropped.
		if ok, _ := l.allow("d", baseTime.Add(time.Second)); !ok {
			t.Fatal("idle buckets were not pruned")
		}
		if len(l.buckets) != 1 {
			t.Errorf("%d buckets after pruning, want 1 (d)", len(l.buckets))
		}
	})
}

func TestClientAddr(t *testing.T) {
	t.Parallel()
	tests := map[string]string{
		"192.0.2.7:4711":                 "192.0.2.7",
		"[::ffff:192.0.2.7]:4711":        "192.0.2.7",
		"[2001:db8:1:2:3:4:5:6]:443":     "2001:db8:1:2::/64",
		"[2001:db8:1:2:ffff::1]:443":     "2001:db8:1:2::/64",
		"[fe80::1%eth0]:80":              "fe80::/64",
		"not an address":                 "not an address",
		"@unix-socket":                   "@unix-socket",
		"203.0.113.255:0":                "203.0.113.255",
		"[::1]:8080":                     "::/64",
		"198.51.100.1:1, 198.51.100.2:2": "198.51.100.1:1, 198.51.100.2:2",
		"[2001:db8::1]:1":                "2001:db8::/64",
		"[2001:0db8:0000:0000::9]:65535": "2001:db8::/64",
		"[2001:db8:ffff:ffff:1::]:1":     "2001:db8:ffff:ffff::/64",
		"192.0.2.7":                      "192.0.2.7",
	}
	for in, want := range tests {
		r := httptest.NewRequest("GET", "/", nil)
		r.RemoteAddr = in
		if got := clientAddr(r); got != want {
			t.Errorf("clientAddr(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestKeyRateLimit: a key past its burst gets 429 RATE_LIMITED with
// Retry-After; another key is unaffected; the key recovers at its rate.
func TestKeyRateLimit(t *testing.T) {
	t.Parallel()
	e := setup(t, func(c *Config) { c.RateLimit, c.Burst = 2, 3 })
	list := func(key string) *response { return e.do("GET", "/v1/connections", key, nil) }
	for i := range 3 {
		if res := list(e.reader); res.Status != http.StatusOK {
			t.Fatalf("request %d: %d %s", i+1, res.Status, res.Body)
		}
	}
	res := list(e.reader)
	wantError(t, res, http.StatusTooManyRequests, tokenkeeper.CodeRateLimited)
	if res.Header.Get("Retry-After") != "1" || res.JSON(t)["error"].(map[string]any)["retry_after"] != 1.0 {
		t.Errorf("Retry-After %q: %s", res.Header.Get("Retry-After"), res.Body)
	}
	if res := list(e.writer); res.Status != http.StatusOK {
		t.Errorf("another key: %d %s", res.Status, res.Body)
	}
	e.clock.Advance(500 * time.Millisecond)
	if res := list(e.reader); res.Status != http.StatusOK {
		t.Errorf("after 500ms at 2/s: %d %s", res.Status, res.Body)
	}
	wantError(t, list(e.reader), http.StatusTooManyRequests, tokenkeeper.CodeRateLimited)
	if !strings.Contains(e.logs.String(), `"code":"RATE_LIMITED"`) {
		t.Error("a rate-limited request is not in the log")
	}
}

// TestAddrRateLimit: requests without a valid key use up their address's
// allowance; then that address is refused before any key is checked,
// except for keys that authenticated recently. Other addresses are not
// affected.
func TestAddrRateLimit(t *testing.T) {
	t.Parallel()
	e := setup(t, func(c *Config) { c.AddrRateLimit, c.AddrBurst = 1, 3 })
	fresh := e.newKey(tokenkeeper.ScopeTokensRead) // valid, never used yet
	from := func(addr, key string) *response {
		req := newRequest("GET", "/v1/connections", "", "")
		req.RemoteAddr = addr
		if key != "" {
			req.Header.Set("Authorization", "Bearer "+key)
		}
		return e.serve(req)
	}
	const attacker, neighbour = "192.0.2.1:5000", "192.0.2.2:5000"
	if res := from(attacker, e.reader); res.Status != http.StatusOK { // the reader key becomes known
		t.Fatalf("valid key: %d", res.Status)
	}
	guesses := []string{"", "tk_guess", "tk_" + strings.Repeat("A", 43)}
	for _, g := range guesses {
		wantError(t, from(attacker, g), http.StatusUnauthorized, tokenkeeper.CodeUnauthorized)
	}
	for _, g := range guesses {
		res := from(attacker, g)
		wantError(t, res, http.StatusTooManyRequests, tokenkeeper.CodeRateLimited)
		if res.Header.Get("Retry-After") != "1" {
			t.Errorf("Retry-After = %q", res.Header.Get("Retry-After"))
		}
	}
	if res := from(attacker, e.reader); res.Status != http.StatusOK {
		t.Errorf("a known key from the exhausted address: %d %s", res.Status, res.Body)
	}
	wantError(t, from(attacker, fresh), http.StatusTooManyRequests, tokenkeeper.CodeRateLimited)
	wantError(t, from(neighbour, "tk_guess"), http.StatusUnauthorized, tokenkeeper.CodeUnauthorized)
	e.clock.Advance(time.Second)
	if res := from(attacker, fresh); res.Status != http.StatusOK {
		t.Errorf("a valid key after the allowance refilled: %d", res.Status)
	}
	wantError(t, from(attacker, "tk_guess"), http.StatusUnauthorized, tokenkeeper.CodeUnauthorized)
	wantError(t, from(attacker, "tk_guess"), http.StatusTooManyRequests, tokenkeeper.CodeRateLimited)
	// A known key that is revoked is refused once, then forgotten: it no
	// longer passes the exhausted address.
	keys, err := e.store.ListAPIKeys(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range keys {
		if bytes.Equal(k.Hash, apikey.Hash(e.reader)) {
			if err := e.store.RevokeAPIKey(t.Context(), k.ID, e.clock.Now()); err != nil {
				t.Fatal(err)
			}
		}
	}
	wantError(t, from(attacker, e.reader), http.StatusUnauthorized, tokenkeeper.CodeUnauthorized)
	wantError(t, from(attacker, e.reader), http.StatusTooManyRequests, tokenkeeper.CodeRateLimited)
}

// TestInFlightLimit: with MaxInFlight requests being served, one more is
// refused at once with 503 and Retry-After (not queued), /healthz still
// answers, one warning is logged however many are refused, and the limit
// frees up as requests finish.
func TestInFlightLimit(t *testing.T) {
	t.Parallel()
	e := setup(t, func(c *Config) { c.MaxInFlight = 2 })
	c := e.conn()
	entered, release := make(chan struct{}), make(chan struct{})
	e.keeper.accessToken = func(ctx context.Context, id string, _ time.Duration) (*tokenkeeper.Token, *tokenkeeper.Connection, error) {
		entered <- struct{}{}
		<-release
		return &tokenkeeper.Token{AccessToken: "at", TokenType: "Bearer"}, c, nil
	}
	target := "/v1/connections/" + c.ID + "/token"
	var wg sync.WaitGroup
	for range 2 {
		wg.Go(func() {
			if res := e.do("GET", target, e.reader, nil); res.Status != http.StatusOK {
				t.Errorf("held request: %d %s", res.Status, res.Body)
			}
		})
	}
	<-entered
	<-entered
	for _, target := range []string{target, "/v1/connections", "/readyz", "/v1/openapi.json"} {
		res := e.do("GET", target, e.reader, nil)
		wantError(t, res, http.StatusServiceUnavailable, tokenkeeper.CodeUnavailable)
		if res.Header.Get("Retry-After") != "1" {
			t.Errorf("%s: Retry-After = %q", target, res.Header.Get("Retry-After"))
		}
	}
	if res := e.do("GET", "/healthz", "", nil); res.Status != http.StatusOK {
		t.Errorf("healthz while full: %d", res.Status)
	}
	close(release)
	wg.Wait()
	e.keeper.accessToken = func(ctx context.Context, id string, _ time.Duration) (*tokenkeeper.Token, *tokenkeeper.Connection, error) {
		return &tokenkeeper.Token{AccessToken: "at", TokenType: "Bearer"}, c, nil
	}
	if res := e.do("GET", target, e.reader, nil); res.Status != http.StatusOK {
		t.Errorf("after the held requests finished: %d %s", res.Status, res.Body)
	}
	logs := e.logs.String()
	if n := strings.Count(logs, "shedding load"); n != 1 {
		t.Errorf("%d shedding warnings, want 1", n)
	}
	for line := range strings.SplitSeq(logs, "\n") {
		if strings.Contains(line, `"status":503`) && !strings.Contains(line, `"level":"DEBUG"`) {
			t.Errorf("a shed request is logged above debug: %s", line)
		}
	}
}

// TestHeaderLimits: the http.Server of NewHTTPServer refuses a header block
// larger than MaxHeaderBytes with 431 before the handler runs.
func TestHeaderLimits(t *testing.T) {
	t.Parallel()
	e := setup(t)
	srv := NewHTTPServer(e.srv, 10*time.Second)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	get := func(headerBytes int) int {
		t.Helper()
		req, _ := http.NewRequest("GET", "http://"+ln.Addr().String()+"/healthz", nil)
		req.Header.Set("X-Padding", strings.Repeat("p", headerBytes))
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res.StatusCode
	}
	if got := get(MaxHeaderBytes / 2); got != http.StatusOK {
		t.Errorf("headers of %d bytes: %d", MaxHeaderBytes/2, got)
	}
	if got := get(2 * MaxHeaderBytes); got != http.StatusRequestHeaderFieldsTooLarge {
		t.Errorf("headers of %d bytes: %d, want 431", 2*MaxHeaderBytes, got)
	}
	if srv.ReadHeaderTimeout == 0 || srv.ReadTimeout == 0 || srv.WriteTimeout != 10*time.Second || srv.IdleTimeout == 0 {
		t.Errorf("timeouts missing: %+v", srv)
	}
}
