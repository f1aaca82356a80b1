package oidctest

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"testing"

	"golang.org/x/oauth2"
)

// Login is the account name Authorize signs in with; it becomes the
// subject of every grant.
const Login = "alice"

// maxInteractions bounds the login and consent pages one authorization walks through.
const maxInteractions = 4

// Grant runs an authorization code flow with PKCE for clientID: it signs in
// as Login, consents, exchanges the code with the client's registered
// authentication style and returns the token, which carries a refresh token.
// redirectURI empty means the first registered one; no scopes means
// DefaultScopes. It fails the test when any step fails.
func (s *Server) Grant(t testing.TB, clientID, redirectURI string, scopes ...string) *oauth2.Token {
	t.Helper()
	conf := s.Config(clientID, redirectURI, scopes...)
	verifier := oauth2.GenerateVerifier()
	state := rand.Text()
	cb := s.Authorize(t, conf.AuthCodeURL(state, oauth2.S256ChallengeOption(verifier)))
	q := cb.Query()
	if e := q.Get("error"); e != "" {
		t.Fatalf("oidctest: authorization for %s failed: %s: %s", clientID, e, q.Get("error_description"))
	}
	if q.Get("state") != state {
		t.Fatalf("oidctest: authorization for %s returned another state", clientID)
	}
	ctx := context.WithValue(t.Context(), oauth2.HTTPClient, s.client)
	tok, err := conf.Exchange(ctx, q.Get("code"), oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatalf("oidctest: exchange code for %s: %v", clientID, err)
	}
	if tok.RefreshToken == "" {
		t.Fatalf("oidctest: code grant for %s returned no refresh token", clientID)
	}
	return tok
}

// Authorize follows authURL, an authorization request built by anyone (such
// as tokenkeeper's connect flow), through the server's login form (as Login)
// and consent form, and returns the URL the server then redirects to, without
// requesting it: the callback with code and state, or with error and
// error_description when the server refused the request. It fails the test
// when the server answers with a page instead (an unknown client or a
// redirect URI that is not registered).
func (s *Server) Authorize(t testing.TB, authURL string) (callbackURL *url.URL) {
	t.Helper()
	issuer, err := url.Parse(s.Issuer)
	if err != nil {
		t.Fatalf("oidctest: parse issuer: %v", err)
	}
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatalf("oidctest: cookie jar: %v", err)
	}
	var callback *url.URL
	browser := &http.Client{
		Jar:     jar,
		Timeout: s.client.Timeout,
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if req.URL.Scheme != issuer.Scheme || req.URL.Host != issuer.Host {
				callback = req.URL // the first redirect that leaves the server
				return http.ErrUseLastResponse
			}
			if len(via) >= 10 {
				return errors.New("more than 10 redirects")
			}
			return nil
		},
	}

	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, authURL, nil)
	if err != nil {
		t.Fatalf("oidctest: authorization request: %v", err)
	}
	for i := 0; ; i++ {
		resp, err := browser.Do(req)
		if err != nil {
			t.Fatalf("oidctest: authorization: %v", err)
		}
		if callback != nil {
			resp.Body.Close()
			return callback
		}
		page, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			t.Fatalf("oidctest: read %s: %v", resp.Request.URL.Path, err)
		}
		if resp.StatusCode != http.StatusOK || i == maxInteractions {
			t.Fatalf("oidctest: authorization stopped at %s with status %d:\n%s",
				resp.Request.URL.Path, resp.StatusCode, tail(page, 1000))
		}
		form := url.Values{"prompt": {"consent"}}
		if bytes.Contains(page, []byte(`name="login"`)) {
			form = url.Values{"prompt": {"login"}, "login": {Login}, "password": {"any"}}
		}
		req, err = http.NewRequestWithContext(t.Context(), http.MethodPost, resp.Request.URL.String(),
			bytes.NewBufferString(form.Encode()))
		if err != nil {
			t.Fatalf("oidctest: interaction request: %v", err)
		}
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
}
