package providertest_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/tokenkeeper/tokenkeeper/internal/providertest"
)

func TestScript(t *testing.T) {
	t.Parallel()
	s := setup(t, providertest.Options{})
	rt := s.Grant().RefreshToken.Reveal()
	s.Script(
		providertest.Response{Status: 503, Header: http.Header{"Retry-After": {"7"}}, Body: `{"error":"temporarily_unavailable"}`},
		providertest.Response{Status: 200, Body: `{"error":"bad_refresh_token"}`},
		providertest.Response{Delay: time.Millisecond}, // then normal processing
	)
	want := []struct {
		status int
		err    string
	}{{503, "temporarily_unavailable"}, {200, "bad_refresh_token"}, {200, ""}, {200, ""}}
	for i, w := range want {
		a := refresh(t, s, rt)
		if a.Status != w.status || a.Error != w.err || (w.err == "" && a.AccessToken == "") {
			t.Errorf("request %d answered %+v, want %d %q", i, a, w.status, w.err)
		}
	}
	if s.Refreshes() != 4 || s.RefreshesOf(rt) != 4 {
		t.Errorf("Refreshes %d, want 4 (injected answers count)", s.Refreshes())
	}
}

func TestFailAllAndHeal(t *testing.T) {
	t.Parallel()
	s := setup(t, providertest.Options{})
	tok := s.Grant()
	s.Script(providertest.Response{Status: 429})
	s.FailAll(providertest.Response{Status: 502, Header: http.Header{"Content-Type": {"text/html"}}, Body: "<html>bad gateway</html>"})
	if a := post(t, s, "/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok.RefreshToken.Reveal()}}, stylePost, "providertest-secret"); a.Status != 429 {
		t.Errorf("script first: %+v", a)
	}
	for i := 0; i < 3; i++ {
		resp, err := s.Client().PostForm(s.URL()+"/token", url.Values{"grant_type": {"refresh_token"}})
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 502 || string(body) != "<html>bad gateway</html>" || resp.Header.Get("Content-Type") != "text/html" {
			t.Errorf("outage answered %d %q", resp.StatusCode, body)
		}
	}
	resp, err := s.Client().PostForm(s.URL()+"/revoke", url.Values{"token": {tok.AccessToken.Reveal()}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 502 || !s.Alive(tok.RefreshToken.Reveal()) {
		t.Errorf("revocation during outage answered %d", resp.StatusCode)
	}
	if code, _ := userinfo(t, s, tok.AccessToken.Reveal()); code != 200 {
		t.Errorf("userinfo is not part of the outage: %d", code)
	}
	s.Heal()
	if a := refresh(t, s, tok.RefreshToken.Reveal()); a.Status != 200 {
		t.Errorf("after Heal: %+v", a)
	}
}

func TestHang(t *testing.T) {
	t.Parallel()
	t.Run("until the client gives up", func(t *testing.T) {
		t.Parallel()
		s := setup(t, providertest.Options{})
		s.Script(providertest.Response{Hang: true})
		ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
		defer cancel()
		_, err := doRefresh(ctx, s, "rt")
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("err %v, want deadline exceeded", err)
		}
		if a := refresh(t, s, s.Grant().RefreshToken.Reveal()); a.Status != 200 {
			t.Errorf("next request: %+v", a)
		}
	})
	t.Run("until Close", func(t *testing.T) {
		t.Parallel()
		s := providertest.New(providertest.Options{})
		started := make(chan struct{}, 1)
		s.FailAll(providertest.Response{Hang: true, Started: started})
		errc := make(chan error, 1)
		go func() { _, err := doRefresh(context.Background(), s, "rt"); errc <- err }()
		<-started
		s.Close()
		if err := <-errc; err == nil {
			t.Errorf("hanging request ended without an error on Close")
		}
	})
}

func TestRelease(t *testing.T) {
	t.Parallel()
	s := setup(t, providertest.Options{})
	rt := s.Grant().RefreshToken.Reveal()
	started, release := make(chan struct{}, 1), make(chan struct{})
	s.Script(providertest.Response{Started: started, Release: release})
	type result struct {
		status int
		err    error
	}
	done := make(chan result, 1)
	go func() {
		resp, err := doRefresh(context.Background(), s, rt)
		if err != nil {
			done <- result{err: err}
			return
		}
		resp.Body.Close()
		done <- result{status: resp.StatusCode}
	}()
	<-started
	select {
	case r := <-done:
		t.Fatalf("answered %+v before Release", r)
	default:
	}
	if !s.Alive(rt) || s.Refreshes() != 1 {
		t.Errorf("in flight: alive %v refreshes %d", s.Alive(rt), s.Refreshes())
	}
	close(release)
	if r := <-done; r.err != nil || r.status != 200 {
		t.Errorf("after Release: %+v", r)
	}
}

func TestCloseConnection(t *testing.T) {
	t.Parallel()
	s := setup(t, providertest.Options{})
	s.Script(
		providertest.Response{CloseConnection: true},
		providertest.Response{Status: 200, Body: `{"access_token":"lost","expires_in":3600}`, CloseConnection: true},
	)
	if _, err := doRefresh(t.Context(), s, "rt"); err == nil {
		t.Errorf("closed connection gave no error")
	}
	resp, err := doRefresh(t.Context(), s, "rt")
	if err != nil {
		t.Fatalf("truncated answer: no headers: %v", err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !errors.Is(err, io.ErrUnexpectedEOF) || !strings.HasPrefix(`{"access_token":"lost","expires_in":3600}`, string(body)) {
		t.Errorf("truncated answer %d %q %v", resp.StatusCode, body, err)
	}
}

// doRefresh sends a refresh request with ctx and returns the raw response.
func doRefresh(ctx context.Context, s *providertest.Server, rt string) (*http.Response, error) {
	p := s.Provider("fake")
	form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}, "client_id": {p.ClientID}, "client_secret": {p.ClientSecret.Reveal()}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, p.TokenURL, strings.NewReader(form.Encode()))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := s.Client().Do(req)
	if err != nil {
		return nil, err
	}
	return resp, nil
}
