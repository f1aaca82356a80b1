package connect_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/tokenkeeper/tokenkeeper"
	"github.com/tokenkeeper/tokenkeeper/internal/connect"
	"github.com/tokenkeeper/tokenkeeper/internal/vault"
)

// needsReauth marks a stored connection as a failed refresh would.
func (f *fixture) needsReauth(c *tokenkeeper.Connection) *tokenkeeper.Connection {
	f.t.Helper()
	c.Status, c.ConsecutiveFailures, c.NextRefreshAt = tokenkeeper.StatusNeedsReauth, 3, time.Time{}
	c.LastError = &tokenkeeper.LastError{Class: tokenkeeper.ClassRevoked, Code: "invalid_grant", At: time.Now()}
	if err := f.store.SaveConnection(f.t.Context(), tokenkeeper.Write{Connection: c}); err != nil {
		f.t.Fatal(err)
	}
	return c
}

// TestReconnectLink: a link from a notification reconnects its connection
// in one click, without an API key: same connection, status connected,
// counters reset, new tokens; the link then explains it was used.
func TestReconnectLink(t *testing.T) {
	t.Parallel()
	f := setup(t)
	c := f.needsReauth(f.connectOnce("u1"))
	link, err := f.links.Reconnect(c)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(link, f.server.URL+"/v1/connect/acme?link=v1.") || strings.Contains(link, "u1") {
		t.Errorf("link %s: want {public_url}/v1/connect/acme?link=v1.…, without the user id", link)
	}
	r := f.get(link, "")
	if r.status != http.StatusFound {
		t.Fatalf("link answered %d: %s", r.status, r.body)
	}
	r = f.get(f.authorize(r.location(t)).String(), "")
	if r.status != http.StatusOK || !strings.Contains(r.body, "Connected") {
		t.Fatalf("callback answered %d: %s", r.status, r.body)
	}
	cs := f.connections()
	if len(cs) != 1 || cs[0].ID != c.ID {
		t.Fatalf("connections %v: want the same one re-linked", cs)
	}
	if got := cs[0]; got.Status != tokenkeeper.StatusConnected || got.ConsecutiveFailures != 0 || got.LastError != nil || got.NextRefreshAt.IsZero() {
		t.Errorf("re-linked connection %+v: want connected with counters reset", got)
	}
	r = f.get(link, "")
	if r.status != http.StatusGone || !strings.Contains(r.body, "link_used") {
		t.Errorf("second use answered %d: %s", r.status, r.body)
	}
}

// TestReconnectLinkRefusals: tampered, expired, moved, used or stale links
// each get their own page and start nothing.
func TestReconnectLinkRefusals(t *testing.T) {
	t.Parallel()
	f := setup(t)
	c := f.needsReauth(f.connectOnce("u1"))
	other := f.connectOnce("u2")
	good, err := f.links.Reconnect(c)
	if err != nil {
		t.Fatal(err)
	}
	token := strings.TrimPrefix(good, f.server.URL+"/v1/connect/acme?link=")
	flip := func(s string, i int) string {
		b := []byte(s)
		b[i] ^= 1
		return string(b)
	}
	otherKeys, _ := vault.GenerateKey()
	otherRing, _ := vault.NewRing(otherKeys)
	foreign, _ := connect.NewLinks(connect.LinkOptions{Keys: otherRing.DeriveAll(connect.LinkKeyPurpose), PublicURL: f.server.URL})
	foreignLink, _ := foreign.Reconnect(c)
	removed := f.connectOnce("u3")
	removedLink, _ := f.links.Reconnect(removed)
	if _, err := f.keeper.Disconnect(t.Context(), removed.ID); err != nil {
		t.Fatal(err)
	}
	usedLink, _ := f.links.Reconnect(other)
	used := strings.TrimPrefix(usedLink, f.server.URL+"/v1/connect/acme?link=")
	tests := []struct {
		name, target string
		status       int
		code         string
	}{
		{"signature changed", "/v1/connect/acme?link=" + flip(token, len(token)-3), 403, "link_invalid"},
		{"connection changed", "/v1/connect/acme?link=" + strings.Replace(token, c.ID, other.ID, 1), 403, "link_invalid"},
		{"expiry changed", "/v1/connect/acme?link=" + strings.Replace(token, ".17", ".27", 1), 403, "link_invalid"},
		{"another provider", "/v1/connect/other?link=" + token, 403, "link_invalid"},
		{"another key", strings.TrimPrefix(foreignLink, f.server.URL), 403, "link_invalid"},
		{"garbage", "/v1/connect/acme?link=%3Cscript%3E", 403, "link_invalid"},
		{"empty", "/v1/connect/acme?link=", 403, "link_invalid"},
		{"expired", "/v1/connect/acme?link=" + f.links.Token(c, f.clock.Now().Add(-time.Second)), 410, "link_expired"},
		{"used", "/v1/connect/acme?link=" + used, 410, "link_used"},
		{"connection removed", strings.TrimPrefix(removedLink, f.server.URL), 410, "connection_removed"},
	}
	// Mark "used" as used by completing a reconnect with it.
	r := f.get(usedLink, "")
	f.get(f.authorize(r.location(t)).String(), "")
	states := f.pendingStates()
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := f.get(tc.target, "")
			if r.status != tc.status || !strings.Contains(r.body, "<code>"+tc.code+"</code>") {
				t.Errorf("answered %d, want %d with %s:\n%s", r.status, tc.status, tc.code, r.body)
			}
			if r.header.Get("Location") != "" {
				t.Error("a refused link redirected")
			}
		})
	}
	if n := f.pendingStates(); n != states {
		t.Errorf("refused links stored %d states", n-states)
	}
	if got, _ := f.store.GetConnection(t.Context(), c.ID); got.Status != tokenkeeper.StatusNeedsReauth {
		t.Errorf("status %s after refused links, want needs_reauth unchanged", got.Status)
	}
	// The untouched link still works.
	if r := f.get(good, ""); r.status != http.StatusFound {
		t.Errorf("the good link answered %d after the refusals", r.status)
	}
}

// TestReconnectWrongAccount: signing in with another account at the
// provider does not re-link the connection.
func TestReconnectWrongAccount(t *testing.T) {
	t.Parallel()
	f := setup(t)
	c := f.needsReauth(f.connectOnce("u1"))
	f.catalog.set("acme", func(p *tokenkeeper.Provider) { p.AuthParams["login_hint"] = "somebody-else" })
	link, _ := f.links.Reconnect(c)
	r := f.get(link, "")
	r = f.get(f.authorize(r.location(t)).String(), "")
	if r.status != http.StatusConflict || !strings.Contains(r.body, "account_mismatch") {
		t.Errorf("answered %d: %s", r.status, r.body)
	}
	if cs := f.connections(); len(cs) != 1 || cs[0].Status != tokenkeeper.StatusNeedsReauth {
		t.Errorf("connections after a mismatched reconnect: %v", cs)
	}
}
