package main

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/tokenkeeper/tokenkeeper"
	"github.com/tokenkeeper/tokenkeeper/client"
	"github.com/tokenkeeper/tokenkeeper/internal/oidctest"
	"github.com/tokenkeeper/tokenkeeper/internal/sqlite"
	"github.com/tokenkeeper/tokenkeeper/internal/vault"
)

// connectReturn is on the allow-list of the connect tests.
const connectReturn = "https://app.example/back"

// browserGet sends GET target as a browser that follows no redirect and
// returns the status, the Location and the body.
func browserGet(t *testing.T, target string) (int, string, string) {
	t.Helper()
	c := &http.Client{Timeout: 30 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Get(target)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header.Get("Location"), string(b)
}

// peek opens the serving process's database and key file read-side, to
// read what the API never shows: the sealed refresh token, the states.
type peek struct {
	store *sqlite.Store
	ring  *vault.Ring
}

func openPeek(t *testing.T, env *testEnv) *peek {
	t.Helper()
	st, err := sqlite.Open(t.Context(), filepath.Join(env.dir, "tokenkeeper.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	ring, _, err := vault.LoadOrCreateKeyFile(filepath.Join(env.dir, "tokenkeeper.key"))
	if err != nil {
		t.Fatal(err)
	}
	return &peek{store: st, ring: ring}
}

func (p *peek) refreshToken(t *testing.T, id string) string {
	t.Helper()
	c, err := p.store.GetConnection(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	b, err := p.ring.Open(c.SealedRefreshToken, tokenkeeper.AdditionalData(id, tokenkeeper.FieldRefreshToken))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// counts returns the numbers of connections, events and pending states.
func (p *peek) counts(t *testing.T) [3]int {
	t.Helper()
	cs, _, err := p.store.ListConnections(t.Context(), tokenkeeper.ConnectionFilter{})
	if err != nil {
		t.Fatal(err)
	}
	evs, _ := p.store.ListEvents(t.Context(), 0, 10000)
	states, _ := p.store.PendingStates(t.Context(), time.Now())
	return [3]int{len(cs), len(evs), states}
}

// TestConnectFlowAgainstOIDCProvider: the whole account-linking story at
// a real authorization server, its login and consent forms driven over
// HTTP: connect → callback → connection stored with its refresh token and
// expiry → token refreshed later → refused callbacks and links change
// nothing → a reconnect link from a NEEDS_REAUTH answer re-links the
// connection → disconnect revokes the grant at the provider.
func TestConnectFlowAgainstOIDCProvider(t *testing.T) {
	t.Parallel()
	as := oidctest.Start(t, oidctest.Options{AnyLoopbackPort: true, StrictClientAuth: true})
	const cid = oidctest.RotatingBasic
	env := newTestEnv(t, map[string]*tokenkeeper.Provider{"oidc": as.Provider("oidc", cid)})
	env.vars["TOKENKEEPER_RETURN_URLS"] = connectReturn
	key := env.apiKey("tokens:read,connections:write")
	base := env.serve()
	p := openPeek(t, env)
	tk, err := client.New(base, key, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()

	// Connect: the application asks for the authorization URL, the user
	// signs in and consents, the browser comes back to the application.
	start, err := tk.ConnectURL(ctx, "oidc", client.ConnectOptions{UserID: "u1", ReturnURL: connectReturn + "/done"})
	if err != nil {
		t.Fatal(err)
	}
	cb := as.Authorize(t, start.AuthorizationURL)
	if cb.Query().Get("code") == "" {
		t.Fatalf("the provider refused the authorization: %s", cb.Query().Get("error"))
	}
	status, loc, body := browserGet(t, cb.String())
	back, _ := url.Parse(loc)
	if status != http.StatusFound || !strings.HasPrefix(loc, connectReturn+"/done?") || back.Query().Get("status") != "connected" {
		t.Fatalf("callback: %d to %q\n%s", status, loc, body)
	}
	id := back.Query().Get("connection_id")
	conn, err := tk.Get(ctx, id)
	if err != nil || conn.Status != "connected" || !conn.HasRefreshToken || conn.ExpiresAt.IsZero() || conn.UserID != "u1" {
		t.Fatalf("stored connection %+v, %v", conn, err)
	}
	rt := p.refreshToken(t, id)
	if !as.Active(t, cid, rt) {
		t.Fatal("the stored refresh token is not active at the provider")
	}

	// Later: a read needing more validity than is left refreshes the token.
	first, err := tk.Token(ctx, id, 0)
	if err != nil {
		t.Fatal(err)
	}
	later, err := tk.Token(ctx, id, time.Hour) // longer than the 300 s lifetime
	if err != nil || later.AccessToken == first.AccessToken || !as.Active(t, cid, later.AccessToken) {
		t.Fatalf("refresh on read: %v", err)
	}
	if as.Stats(t).RefreshSuccesses != 1 {
		t.Errorf("%d refreshes at the provider, want 1", as.Stats(t).RefreshSuccesses)
	}
	// The client's TokenSource gets the current token.
	if tok, err := tk.TokenSource(ctx, id).Token(); err != nil || tok.AccessToken != later.AccessToken {
		t.Errorf("TokenSource: %v", err)
	}

	// Refusals change nothing.
	before := p.counts(t)
	refusals := []struct {
		name, target string
		status       int
		code         string
	}{
		{"forged state", base + "/v1/oauth/callback?code=x&state=" + strings.Repeat("Z", 43), 400, "state_invalid"},
		{"replayed state", cb.String(), 400, "state_used"},
	}
	for _, r := range refusals {
		if status, loc, body := browserGet(t, r.target); status != r.status || loc != "" || !strings.Contains(body, r.code) {
			t.Errorf("%s: %d %q\n%s", r.name, status, loc, body)
		}
	}
	if _, err := tk.ConnectURL(ctx, "oidc", client.ConnectOptions{UserID: "u1", ReturnURL: "https://evil.example/back"}); !client.IsCode(err, client.CodeInvalidRequest) {
		t.Errorf("a return URL off the allow-list: %v", err)
	}
	if after := p.counts(t); after != before {
		t.Errorf("refusals changed (connections, events, states) from %v to %v", before, after)
	}

	// The user removes the app at the provider: the next refresh answers
	// NEEDS_REAUTH with a reconnect link.
	as.Revoke(t, cid, p.refreshToken(t, id))
	_, err = tk.Refresh(ctx, id, "")
	var apiErr *client.Error
	if !errors.As(err, &apiErr) || apiErr.Code != client.CodeNeedsReauth || apiErr.ReconnectURL == "" {
		t.Fatalf("refresh after revocation: %v", err)
	}
	link := apiErr.ReconnectURL
	tampered := strings.Replace(link, "link=v1.", "link=v1.x", 1)
	if status, _, body := browserGet(t, tampered); status != http.StatusForbidden || !strings.Contains(body, "link_invalid") {
		t.Errorf("tampered link: %d\n%s", status, body)
	}
	status, loc, body = browserGet(t, link)
	if status != http.StatusFound {
		t.Fatalf("reconnect link: %d\n%s", status, body)
	}
	status, _, body = browserGet(t, as.Authorize(t, loc).String())
	if status != http.StatusOK || !strings.Contains(body, "Connected") {
		t.Fatalf("reconnect callback: %d\n%s", status, body)
	}
	conn, _ = tk.Get(ctx, id)
	if conn.Status != "connected" || conn.ConsecutiveFailures != 0 || conn.LastError != nil {
		t.Errorf("after the reconnect: %+v", conn)
	}
	if status, _, body := browserGet(t, link); status != http.StatusGone || !strings.Contains(body, "link_used") {
		t.Errorf("used link: %d\n%s", status, body)
	}

	// Disconnect revokes the new grant at the provider.
	rt = p.refreshToken(t, id)
	if _, err := tk.Disconnect(ctx, id); err != nil {
		t.Fatal(err)
	}
	if as.Active(t, cid, rt) {
		t.Error("the refresh token is still active after the disconnect")
	}
	oc := context.WithValue(ctx, oauth2.HTTPClient, &http.Client{Timeout: 10 * time.Second})
	if _, err := as.Config(cid, "").TokenSource(oc, &oauth2.Token{RefreshToken: rt, Expiry: time.Now().Add(-time.Hour)}).Token(); err == nil {
		t.Error("a refresh with the revoked refresh token succeeded")
	}
	if n, _ := p.store.CountRevocations(ctx); n != 0 {
		t.Errorf("%d revocations left to retry", n)
	}
	assertNoPlaintext(t, env.dir, env.logs.String(), rt, first.AccessToken, later.AccessToken, cb.Query().Get("code"), cb.Query().Get("state"))
}

// TestConnectExpiry: with a 1 ms state and link lifetime (settings
// connect_state_ttl, reconnect_link_ttl), a callback and a reconnect link
// arrive too late and are refused, changing nothing.
func TestConnectExpiry(t *testing.T) {
	t.Parallel()
	as := oidctest.Start(t, oidctest.Options{AnyLoopbackPort: true})
	const cid = oidctest.StaticPost
	env := newTestEnv(t, map[string]*tokenkeeper.Provider{"oidc": as.Provider("oidc", cid)})
	env.vars["TOKENKEEPER_CONNECT_STATE_TTL"] = "1ms"
	env.vars["TOKENKEEPER_RECONNECT_LINK_TTL"] = "1ms"
	key := env.apiKey("tokens:read,connections:write")
	base := env.serve()
	p := openPeek(t, env)
	tk, _ := client.New(base, key, nil)

	start, err := tk.ConnectURL(t.Context(), "oidc", client.ConnectOptions{UserID: "u1"})
	if err != nil {
		t.Fatal(err)
	}
	cb := as.Authorize(t, start.AuthorizationURL) // takes far longer than 1 ms
	before := p.counts(t)
	if status, _, body := browserGet(t, cb.String()); status != http.StatusBadRequest || !strings.Contains(body, "state_expired") {
		t.Errorf("late callback: %d\n%s", status, body)
	}

	g := as.Grant(t, cid, "")
	conn, _, err := tk.Link(t.Context(), client.LinkRequest{UserID: "u2", Provider: "oidc", AccessToken: g.AccessToken, RefreshToken: g.RefreshToken, ExpiresIn: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	as.Revoke(t, cid, g.RefreshToken)
	_, err = tk.Refresh(t.Context(), conn.ID, "")
	var apiErr *client.Error
	if !errors.As(err, &apiErr) || apiErr.ReconnectURL == "" {
		t.Fatalf("refresh of a revoked grant: %v", err)
	}
	before[0], before[1] = before[0]+1, before[1]+2 // the link and the needs_reauth events
	if status, _, body := browserGet(t, apiErr.ReconnectURL); status != http.StatusGone || !strings.Contains(body, "link_expired") {
		t.Errorf("expired link: %d\n%s", status, body)
	}
	if after := p.counts(t); after != before {
		t.Errorf("(connections, events, states) went from %v to %v", before, after)
	}
}
