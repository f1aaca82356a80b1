package client_test

import (
	"errors"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/tokenkeeper/tokenkeeper/client"
)

// countingTransport counts the requests sent to tokenkeeper.
type countingTransport struct{ n atomic.Int64 }

func (c *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	c.n.Add(1)
	return http.DefaultTransport.RoundTrip(r)
}

func newClient(t *testing.T, s *server) (*client.Client, *countingTransport) {
	t.Helper()
	ct := &countingTransport{}
	c, err := client.New(s.URL+"/", s.Key, &client.Options{HTTPClient: &http.Client{Transport: ct, Timeout: 10 * time.Second}})
	if err != nil {
		t.Fatal(err)
	}
	return c, ct
}

// TestClientLifecycle: every call of the client against a real server.
func TestClientLifecycle(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	c, _ := newClient(t, s)
	ctx := t.Context()
	g := s.Provider.Grant("read")

	conn, created, err := c.Link(ctx, client.LinkRequest{UserID: "u1", Provider: "acme", AccountID: "a1",
		AccessToken: g.AccessToken.Reveal(), RefreshToken: g.RefreshToken.Reveal(), ExpiresIn: time.Hour, Scopes: []string{"read"}})
	if err != nil || !created || conn.Status != "connected" || !conn.HasRefreshToken || conn.ExpiresAt.IsZero() {
		t.Fatalf("Link = %+v, created %v, %v", conn, created, err)
	}
	if again, created, err := c.Link(ctx, client.LinkRequest{UserID: "u1", Provider: "acme", AccountID: "a1",
		AccessToken: g.AccessToken.Reveal(), RefreshToken: g.RefreshToken.Reveal(), ExpiresAt: time.Now().Add(time.Hour)}); err != nil || created || again.ID != conn.ID {
		t.Fatalf("re-Link = %+v, created %v, %v; want the same connection", again, created, err)
	}
	if got, err := c.Get(ctx, conn.ID); err != nil || got.UserID != "u1" || got.AccountID != "a1" {
		t.Errorf("Get = %+v, %v", got, err)
	}
	if l, err := c.List(ctx, client.ListOptions{UserID: "u1", Limit: 10}); err != nil || len(l.Connections) != 1 || l.NextCursor != "" {
		t.Errorf("List = %+v, %v", l, err)
	}
	tok, err := c.Token(ctx, conn.ID, 0)
	if err != nil || tok.AccessToken != g.AccessToken.Reveal() || tok.TokenType != "Bearer" || tok.ExpiresIn <= 0 {
		t.Fatalf("Token = %+v, %v; want the linked token", tok, err)
	}
	fresh, err := c.Token(ctx, conn.ID, 2*time.Hour) // more than is left: refreshed first
	if err != nil || fresh.AccessToken == tok.AccessToken || s.Provider.Refreshes() != 1 {
		t.Fatalf("Token(min_validity 2h): %v, refreshes %d", err, s.Provider.Refreshes())
	}
	if byUser, err := c.TokenByUser(ctx, "u1", "acme", &client.TokenByUserOptions{AccountID: "a1"}); err != nil || byUser.AccessToken != fresh.AccessToken {
		t.Errorf("TokenByUser = %+v, %v", byUser, err)
	}
	// A rejected token that is no longer current causes no refresh.
	if _, err := c.Refresh(ctx, conn.ID, tok.AccessToken); err != nil || s.Provider.Refreshes() != 1 {
		t.Errorf("Refresh(stale rejected token): %v, refreshes %d", err, s.Provider.Refreshes())
	}
	if _, err := c.Refresh(ctx, conn.ID, fresh.AccessToken); err != nil || s.Provider.Refreshes() != 2 {
		t.Errorf("Refresh(current rejected token): %v, refreshes %d", err, s.Provider.Refreshes())
	}
	rt := s.Provider.Current(g.RefreshToken.Reveal())
	gone, err := c.Disconnect(ctx, conn.ID)
	if err != nil || gone.Status != "disconnected" || gone.HasRefreshToken {
		t.Fatalf("Disconnect = %+v, %v", gone, err)
	}
	if s.Provider.Alive(rt) {
		t.Error("the grant is alive at the provider after Disconnect")
	}
	if _, err := c.Token(ctx, conn.ID, 0); err == nil {
		t.Error("Token of a disconnected connection succeeded")
	}
	_, err = c.Get(ctx, "conn_nope")
	var apiErr *client.Error
	if !errors.As(err, &apiErr) || apiErr.Code != client.CodeAccountNotFound || apiErr.StatusCode != 404 || !client.IsCode(err, client.CodeAccountNotFound) {
		t.Errorf("Get(unknown) = %v, want ACCOUNT_NOT_FOUND", err)
	}
}

func TestClientErrors(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	bad, err := client.New(s.URL, "tk_wrong", nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := bad.List(t.Context(), client.ListOptions{}); !client.IsCode(err, client.CodeUnauthorized) {
		t.Errorf("List with a bad key = %v, want UNAUTHORIZED", err)
	}
	c, _ := newClient(t, s)
	if _, _, err := c.Link(t.Context(), client.LinkRequest{UserID: "u", Provider: "nope", AccessToken: "x"}); !client.IsCode(err, client.CodeProviderUnknown) {
		t.Errorf("Link(unknown provider) = %v", err)
	}
	for _, base := range []string{"", "ftp://x", "/relative", "http://h/?q=1"} {
		if _, err := client.New(base, "k", nil); err == nil {
			t.Errorf("New(%q) succeeded", base)
		}
	}
	if _, err := client.New("http://h", "", nil); err == nil {
		t.Error("New without a key succeeded")
	}
}

// TestConnectURL: the client starts the connect flow; the browser's round
// trip through the provider ends at the return URL with the new connection.
func TestConnectURL(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	c, _ := newClient(t, s)
	start, err := c.ConnectURL(t.Context(), "acme", client.ConnectOptions{UserID: "u9", ReturnURL: returnPrefix + "/done", Scopes: []string{"read"}})
	if err != nil || !strings.HasPrefix(start.AuthorizationURL, s.Provider.URL()+"/authorize?") || start.ExpiresAt.Before(time.Now()) {
		t.Fatalf("ConnectURL = %+v, %v", start, err)
	}
	browser := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	target := start.AuthorizationURL
	for range 2 { // provider → callback → return URL
		resp, err := browser.Get(target)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		target = resp.Header.Get("Location")
	}
	if !strings.HasPrefix(target, returnPrefix+"/done?") || !strings.Contains(target, "status=connected") {
		t.Fatalf("the flow ended at %q", target)
	}
	if l, err := c.List(t.Context(), client.ListOptions{UserID: "u9"}); err != nil || len(l.Connections) != 1 {
		t.Errorf("List after connect = %+v, %v", l, err)
	}
	if _, err := c.ConnectURL(t.Context(), "acme", client.ConnectOptions{UserID: "u9", ReturnURL: "https://evil.example/"}); !client.IsCode(err, client.CodeInvalidRequest) {
		t.Errorf("ConnectURL off the allow-list = %v", err)
	}
}

// TestTokenSource: x/oauth2 gets its tokens from tokenkeeper, cached until
// near expiry; a rejected token is refreshed once; a dead grant surfaces as
// NEEDS_REAUTH with a reconnect link.
func TestTokenSource(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	c, ct := newClient(t, s)
	g := s.Provider.Grant("read")
	conn, _, err := c.Link(t.Context(), client.LinkRequest{UserID: "u1", Provider: "acme",
		AccessToken: g.AccessToken.Reveal(), RefreshToken: g.RefreshToken.Reveal(), ExpiresIn: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	ts := c.NewTokenSource(t.Context(), conn.ID)
	hc := ts.HTTPClient(nil)
	userinfo := func() int {
		resp, err := hc.Get(s.Provider.URL() + "/userinfo")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	before := ct.n.Load()
	for range 3 {
		if status := userinfo(); status != 200 {
			t.Fatalf("resource server answered %d", status)
		}
	}
	if n := ct.n.Load() - before; n != 1 {
		t.Errorf("3 calls asked tokenkeeper %d times, want 1 (cached)", n)
	}
	old, _ := ts.Token()
	if err := ts.Rejected(t.Context(), old); err != nil {
		t.Fatal(err)
	}
	if cur, _ := ts.Token(); cur.AccessToken == old.AccessToken || s.Provider.Refreshes() != 1 || userinfo() != 200 {
		t.Errorf("after Rejected: new token %v, refreshes %d", cur.AccessToken != old.AccessToken, s.Provider.Refreshes())
	}
	// A 401 from the resource server is reported and retried once: the
	// provider rotated the token behind tokenkeeper's back (simulated by a
	// refresh through another path).
	cur, _ := ts.Token()
	if _, err := c.Refresh(t.Context(), conn.ID, ""); err != nil {
		t.Fatal(err)
	}
	if status := userinfo(); status != 200 || s.Provider.Refreshes() != 2 {
		t.Errorf("after a 401: status %d, refreshes %d; want 200 after one retry and no extra refresh", status, s.Provider.Refreshes())
	}
	if now, _ := ts.Token(); now.AccessToken == cur.AccessToken {
		t.Error("the source kept the rejected token")
	}
	// oauth2.NewClient works over the source too.
	if resp, err := oauth2.NewClient(t.Context(), c.TokenSource(t.Context(), conn.ID)).Get(s.Provider.URL() + "/userinfo"); err != nil || resp.StatusCode != 200 {
		t.Errorf("oauth2.NewClient: %v", err)
	} else {
		resp.Body.Close()
	}
	// The user removes the app at the provider: the next refresh says so.
	s.Provider.RevokeGrant(g.RefreshToken.Reveal())
	cur, _ = ts.Token()
	err = ts.Rejected(t.Context(), cur)
	var apiErr *client.Error
	if !errors.As(err, &apiErr) || apiErr.Code != client.CodeNeedsReauth || !strings.Contains(apiErr.ReconnectURL, "/v1/connect/acme?link=") {
		t.Fatalf("Rejected after revocation = %v, want NEEDS_REAUTH with a reconnect link", err)
	}
	if _, err := ts.Token(); !client.IsCode(err, client.CodeNeedsReauth) {
		t.Errorf("Token after revocation = %v, want NEEDS_REAUTH", err)
	}
}
