package oauth_test

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tokenkeeper/tokenkeeper"
	"github.com/tokenkeeper/tokenkeeper/internal/oauth"
	"github.com/tokenkeeper/tokenkeeper/internal/providertest"
)

// watchdog bounds calls that must end by the client's own timeout.
const watchdog = 20 * time.Second

// serve starts a test server with handler h.
func serve(t *testing.T, h http.HandlerFunc) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv
}

// countingTransport counts the response body bytes the client reads.
type countingTransport struct {
	base http.RoundTripper
	read atomic.Int64
}

func (c *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := c.base.RoundTrip(r)
	if resp != nil {
		resp.Body = &countingBody{ReadCloser: resp.Body, n: &c.read}
	}
	return resp, err
}

type countingBody struct {
	io.ReadCloser
	n *atomic.Int64
}

func (b *countingBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	b.n.Add(int64(n))
	return n, err
}

func TestHostileServers(t *testing.T) {
	t.Parallel()
	short := func(o *oauth.Options) { o.Timeout = 150 * time.Millisecond }

	t.Run("hangs", func(t *testing.T) {
		t.Parallel()
		srv := serve(t, func(w http.ResponseWriter, r *http.Request) {
			// Reading the body lets the server notice the client going away.
			_, _ = io.Copy(io.Discard, r.Body)
			<-r.Context().Done()
		})
		c := newClient(t, short)
		o := within(t, watchdog, func() tokenkeeper.Outcome {
			return c.Refresh(t.Context(), providerAt(srv.URL, tokenkeeper.AuthPost), sentRT, "")
		})
		if o.Class != tokenkeeper.ClassTransient || o.Code != "timeout" || o.HTTPStatus != 0 {
			t.Errorf("outcome %+v", o)
		}
	})
	t.Run("dribbles", func(t *testing.T) {
		t.Parallel()
		srv := serve(t, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(200)
			tick := time.NewTicker(10 * time.Millisecond)
			defer tick.Stop()
			for {
				if _, err := w.Write([]byte(" ")); err != nil {
					return
				}
				w.(http.Flusher).Flush()
				select {
				case <-tick.C:
				case <-r.Context().Done():
					return
				}
			}
		})
		o := within(t, watchdog, func() tokenkeeper.Outcome {
			return newClient(t, short).Refresh(t.Context(), providerAt(srv.URL, tokenkeeper.AuthPost), sentRT, "")
		})
		if o.Class != tokenkeeper.ClassTransient || o.Code != "timeout" || o.HTTPStatus != 200 {
			t.Errorf("outcome %+v", o)
		}
	})
	t.Run("sends 100 MB", func(t *testing.T) {
		t.Parallel()
		var written atomic.Int64
		srv := serve(t, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			chunk := []byte(`{"access_token":"` + strings.Repeat("a", 64<<10))
			for written.Load() < 100<<20 {
				n, err := w.Write(chunk)
				written.Add(int64(n))
				if err != nil {
					return
				}
			}
		})
		ct := &countingTransport{base: http.DefaultTransport.(*http.Transport).Clone()}
		const limit = 32 << 10
		c := newClient(t, func(o *oauth.Options) { o.HTTPClient = &http.Client{Transport: ct}; o.MaxBodyBytes = limit })
		o := within(t, watchdog, func() tokenkeeper.Outcome {
			return c.Refresh(t.Context(), providerAt(srv.URL, tokenkeeper.AuthPost), sentRT, "")
		})
		if o.Class != tokenkeeper.ClassTransient || o.Code != "response_too_large" || o.HTTPStatus != 200 {
			t.Errorf("outcome %+v", o)
		}
		if n := ct.read.Load(); n > limit+1 {
			t.Errorf("client read %d bytes, want at most %d", n, limit+1)
		}
	})
	t.Run("redirects", func(t *testing.T) {
		t.Parallel()
		var hits atomic.Int64
		target := serve(t, func(w http.ResponseWriter, r *http.Request) {
			hits.Add(1)
			_, _ = io.WriteString(w, okBody)
		})
		srv := serve(t, func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, target.URL+"/token", http.StatusTemporaryRedirect)
		})
		// Even a caller's client that follows redirects does not follow them here.
		follow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return nil }}
		o := newClient(t, func(o *oauth.Options) { o.HTTPClient = follow }).Refresh(t.Context(), providerAt(srv.URL, tokenkeeper.AuthPost), sentRT, "")
		if o.Class != tokenkeeper.ClassTransient || o.Code != "redirect" || o.HTTPStatus != 307 {
			t.Errorf("outcome %+v", o)
		}
		if hits.Load() != 0 {
			t.Errorf("redirect target received %d requests", hits.Load())
		}
	})
	t.Run("closes mid-response", func(t *testing.T) {
		t.Parallel()
		fake := providertest.New(providertest.Options{})
		t.Cleanup(fake.Close)
		tok := fake.Grant()
		fake.Script(providertest.Response{Status: 200, Body: `{"access_token":"at-lost","refresh_token":"rt-lost","expires_in":3600}`, CloseConnection: true})
		o := newClient(t, nil).Refresh(t.Context(), fake.Provider("fake"), tok.RefreshToken, "")
		if o.Class != tokenkeeper.ClassTransient || o.Code != "network" || o.HTTPStatus != 200 {
			t.Errorf("outcome %+v", o)
		}
	})
	t.Run("closes before answering", func(t *testing.T) {
		t.Parallel()
		fake := providertest.New(providertest.Options{})
		t.Cleanup(fake.Close)
		fake.Script(providertest.Response{CloseConnection: true})
		o := newClient(t, nil).Refresh(t.Context(), fake.Provider("fake"), fake.Grant().RefreshToken, "")
		if o.Class != tokenkeeper.ClassTransient || o.Code != "network" || o.HTTPStatus != 0 {
			t.Errorf("outcome %+v", o)
		}
		if fake.Refreshes() != 1 {
			t.Errorf("%d refresh requests, want 1 (no retry)", fake.Refreshes())
		}
	})
	t.Run("answers 200 with an error", func(t *testing.T) {
		t.Parallel()
		fake := providertest.New(providertest.Options{})
		t.Cleanup(fake.Close)
		fake.Script(providertest.Response{Status: 200, Body: `{"error":"bad_refresh_token","error_description":"The refresh token passed is incorrect or expired."}`})
		o := newClient(t, nil).Refresh(t.Context(), fake.Provider("fake"), fake.Grant().RefreshToken, "")
		if o.Class != tokenkeeper.ClassRevoked || o.Code != "bad_refresh_token" || o.Message != "The refresh token passed is incorrect or expired." {
			t.Errorf("outcome %+v", o)
		}
	})
	t.Run("returns HTML", func(t *testing.T) {
		t.Parallel()
		fake := providertest.New(providertest.Options{})
		t.Cleanup(fake.Close)
		fake.Script(providertest.Response{Status: 200, Header: http.Header{"Content-Type": {"text/html"}}, Body: "<!doctype html><title>Login</title>"})
		o := newClient(t, nil).Refresh(t.Context(), fake.Provider("fake"), fake.Grant().RefreshToken, "")
		if o.Class != tokenkeeper.ClassTransient || o.Code != "malformed_response" || strings.Contains(o.Message, "html") {
			t.Errorf("outcome %+v", o)
		}
	})
}

func TestNetworkFailures(t *testing.T) {
	t.Parallel()
	refused := func() string {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := l.Addr().String()
		l.Close()
		return "http://" + addr
	}()
	tlsSrv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, okBody) }))
	t.Cleanup(tlsSrv.Close)
	dnsFail := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		return nil, &net.OpError{Op: "dial", Net: network, Err: &net.DNSError{Err: "no such host", Name: "token.example", IsNotFound: true}}
	}}}
	canceled, cancel := context.WithCancel(t.Context())
	cancel()
	expired, cancel2 := context.WithDeadline(t.Context(), time.Now().Add(-time.Second))
	defer cancel2()

	cases := []struct {
		name    string
		ctx     context.Context
		base    string
		client  *http.Client
		code    string
		message string
	}{
		{"connection refused", t.Context(), refused, nil, "network", "refused"},
		{"dns failure", t.Context(), "http://token.example", dnsFail, "network", "resolved"},
		{"untrusted tls", t.Context(), tlsSrv.URL, nil, "network", "TLS"},
		{"caller canceled", canceled, tlsSrv.URL, tlsSrv.Client(), "canceled", "canceled"},
		{"caller deadline", expired, tlsSrv.URL, tlsSrv.Client(), "timeout", "in time"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := newClient(t, func(o *oauth.Options) { o.HTTPClient = tc.client })
			o := c.Refresh(tc.ctx, providerAt(tc.base, tokenkeeper.AuthPost), sentRT, "")
			if o.Class != tokenkeeper.ClassTransient || o.Code != tc.code || !strings.Contains(o.Message, tc.message) || o.HTTPStatus != 0 {
				t.Errorf("outcome %+v, want transient %s mentioning %q", o, tc.code, tc.message)
			}
		})
	}
	t.Run("trusted tls works", func(t *testing.T) {
		t.Parallel()
		c := newClient(t, func(o *oauth.Options) { o.HTTPClient = tlsSrv.Client() })
		if o := c.Refresh(t.Context(), providerAt(tlsSrv.URL, tokenkeeper.AuthPost), sentRT, ""); o.Class != tokenkeeper.ClassSuccess {
			t.Errorf("outcome %+v", o)
		}
	})
}

// TestNoSecretInOutcome: whatever a provider echoes back, no token, code,
// verifier or client secret of the request reaches Message or Code.
func TestNoSecretInOutcome(t *testing.T) {
	t.Parallel()
	const access, code, verifier = "access-token-secret-1", "auth-code-secret-2", "verifier-secret-3"
	echo := strings.Join([]string{sentRT, clientSecret, access, code, verifier}, " | ")
	for _, status := range []int{200, 400, 401, 403, 429, 503} {
		for _, shape := range []string{
			`{"error":%q,"error_description":%q}`,
			`{"error":{"message":%q,"type":%q,"code":190}}`,
			`{"message":%q,"status":%q}`,
		} {
			name := http.StatusText(status) + " " + shape[:12]
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				body := strings.Replace(strings.Replace(shape, "%q", jsonQuote(echo), 1), "%q", jsonQuote(echo), 1)
				rec := newRecorder(t, status, nil, body)
				p := providerAt(rec.srv.URL, tokenkeeper.AuthBasic)
				c := newClient(t, nil)
				// Each call keeps out what it sent: it cannot know other secrets.
				calls := []struct {
					o    tokenkeeper.Outcome
					sent []string
				}{
					{c.Refresh(t.Context(), p, sentRT, access), []string{sentRT, access, clientSecret}},
					{c.Exchange(t.Context(), p, code, "https://app/cb", verifier), []string{code, verifier, clientSecret}},
					{c.Revoke(t.Context(), p, access, "access_token"), []string{access, clientSecret}},
				}
				for i, call := range calls {
					for _, s := range call.sent {
						if strings.Contains(call.o.Message, s) || strings.Contains(call.o.Code, s) {
							t.Errorf("call %d: outcome %+v shows secret %q", i, call.o, s)
						}
					}
				}
			})
		}
	}
}

func jsonQuote(s string) string {
	b := strings.Builder{}
	b.WriteByte('"')
	b.WriteString(strings.ReplaceAll(s, `"`, `\"`))
	b.WriteByte('"')
	return b.String()
}

// TestBodyLimitBoundary: a body of exactly MaxBodyBytes is read; one byte
// more is too large.
func TestBodyLimitBoundary(t *testing.T) {
	t.Parallel()
	const limit = 4096
	for _, extra := range []int{0, 1} {
		t.Run(map[int]string{0: "at the limit", 1: "one byte over"}[extra], func(t *testing.T) {
			t.Parallel()
			body := okBody + strings.Repeat(" ", limit-len(okBody)+extra)
			rec := newRecorder(t, 200, nil, body)
			c := newClient(t, func(o *oauth.Options) { o.MaxBodyBytes = limit; o.UserAgent = "tk-test/1" })
			o := c.Refresh(t.Context(), providerAt(rec.srv.URL, tokenkeeper.AuthPost), sentRT, "")
			want := map[int]string{0: "", 1: "response_too_large"}[extra]
			if o.Code != want {
				t.Errorf("outcome %+v, want code %q", o, want)
			}
			if ua := rec.only(t).Header.Get("User-Agent"); ua != "tk-test/1" {
				t.Errorf("User-Agent %q", ua)
			}
		})
	}
}
