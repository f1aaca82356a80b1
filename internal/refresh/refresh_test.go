package refresh

import (
	"context"
	"errors"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tokenkeeper/tokenkeeper"
	"github.com/tokenkeeper/tokenkeeper/internal/providertest"
)

func rotating(method tokenkeeper.AuthMethod) fixtureOptions {
	return fixtureOptions{provider: providertest.Options{AuthMethod: method, Rotate: true, ReuseDetection: true}}
}

func TestAccessToken(t *testing.T) {
	t.Parallel()
	for _, method := range []tokenkeeper.AuthMethod{tokenkeeper.AuthBasic, tokenkeeper.AuthPost} {
		t.Run("expired token is refreshed/"+string(method), func(t *testing.T) {
			t.Parallel()
			f := setup(t, rotating(method))
			c, g := f.link("u1", time.Hour)
			f.expire(c.ID)
			tok, conn, err := f.keeper.AccessToken(context.Background(), c.ID, 0)
			if err != nil {
				t.Fatal(err)
			}
			if tok.AccessToken == g.AccessToken || tok.AccessToken.IsZero() {
				t.Fatal("expected a new access token")
			}
			if got := f.provider.Refreshes(); got != 1 {
				t.Fatalf("provider saw %d refreshes, want 1", got)
			}
			if conn.Status != tokenkeeper.StatusConnected || !conn.ExpiresAt.After(time.Now()) {
				t.Fatalf("connection after refresh: %s, expires %s", conn.Status, conn.ExpiresAt)
			}
			// The new tokens were committed: a second read returns the same token without a refresh.
			again, _, err := f.keeper.AccessToken(context.Background(), c.ID, 0)
			if err != nil || again.AccessToken != tok.AccessToken {
				t.Fatalf("second read: %v", err)
			}
			if got := f.provider.Refreshes(); got != 1 {
				t.Fatalf("provider saw %d refreshes after a second read, want 1", got)
			}
			attempts, err := f.store.ListAttempts(context.Background(), c.ID, 10)
			if err != nil || len(attempts) != 1 || attempts[0].Class != tokenkeeper.ClassSuccess || !attempts[0].Rotated || attempts[0].Trigger != tokenkeeper.TriggerRead {
				t.Fatalf("history: %+v, %v", attempts, err)
			}
			f.assertNoPlaintext(g.AccessToken, g.RefreshToken, tok.AccessToken)
		})
	}
	t.Run("fresh token is served without a refresh", func(t *testing.T) {
		t.Parallel()
		f := setup(t, rotating(tokenkeeper.AuthPost))
		c, g := f.link("u1", time.Hour)
		tok, _, err := f.keeper.AccessToken(context.Background(), c.ID, 0)
		if err != nil || tok.AccessToken != g.AccessToken {
			t.Fatalf("read: %v", err)
		}
		if f.provider.Refreshes() != 0 {
			t.Fatal("a fresh token was refreshed")
		}
	})
	t.Run("min_validity forces a refresh", func(t *testing.T) {
		t.Parallel()
		f := setup(t, rotating(tokenkeeper.AuthPost))
		c, g := f.link("u1", time.Hour)
		tok, _, err := f.keeper.AccessToken(context.Background(), c.ID, 2*time.Hour)
		if err != nil || tok.AccessToken == g.AccessToken {
			t.Fatalf("read with min_validity: %v", err)
		}
	})
	t.Run("unknown connection", func(t *testing.T) {
		t.Parallel()
		f := setup(t, rotating(tokenkeeper.AuthPost))
		_, _, err := f.keeper.AccessToken(context.Background(), "conn_missing", 0)
		if tokenkeeper.ErrorCode(err) != tokenkeeper.CodeAccountNotFound {
			t.Fatalf("got %v", err)
		}
	})
}

// TestConcurrentReadsRefreshOnce: many callers in two processes (two
// refreshers with different lease owners on one database) read an expiring
// connection of a rotating provider with reuse detection. The provider sees
// one refresh and the grant stays alive.
func TestConcurrentReadsRefreshOnce(t *testing.T) {
	t.Parallel()
	f := setup(t, rotating(tokenkeeper.AuthBasic))
	other := f.newRefresher(fixtureOptions{})
	c, g := f.link("u1", time.Hour)
	f.expire(c.ID)
	var wg sync.WaitGroup
	tokens := make(chan tokenkeeper.Secret, 50)
	for i := range 50 {
		wg.Add(1)
		go func(k *Refresher) {
			defer wg.Done()
			tok, _, err := k.AccessToken(context.Background(), c.ID, 0)
			if err != nil {
				t.Error(err)
				return
			}
			tokens <- tok.AccessToken
		}([]*Refresher{f.keeper, other}[i%2])
	}
	wg.Wait()
	close(tokens)
	seen := map[tokenkeeper.Secret]bool{}
	for tok := range tokens {
		seen[tok] = true
	}
	if len(seen) != 1 {
		t.Fatalf("callers got %d different tokens, want 1", len(seen))
	}
	if got, reuses := f.provider.Refreshes(), f.provider.Reuses(); got != 1 || reuses != 0 {
		t.Fatalf("provider saw %d refreshes and %d reuses, want 1 and 0", got, reuses)
	}
	if !f.provider.Alive(g.RefreshToken.Reveal()) {
		t.Fatal("the grant was revoked")
	}
	if st := f.get(c.ID).Status; st != tokenkeeper.StatusConnected {
		t.Fatalf("status %s", st)
	}
}

func TestRejectedTokenRefreshesOnce(t *testing.T) {
	t.Parallel()
	f := setup(t, rotating(tokenkeeper.AuthPost))
	c, g := f.link("u1", time.Hour)
	var wg sync.WaitGroup
	for range 10 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := f.keeper.Refresh(context.Background(), c.ID, tokenkeeper.TriggerManual, g.AccessToken); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	// Reports of the old token after the refresh change nothing.
	if _, err := f.keeper.Refresh(context.Background(), c.ID, tokenkeeper.TriggerManual, g.AccessToken); err != nil {
		t.Fatal(err)
	}
	if got := f.provider.Refreshes(); got != 1 {
		t.Fatalf("provider saw %d refreshes, want 1", got)
	}
}

func TestFailureClasses(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name          string
		response      providertest.Response
		status        tokenkeeper.Status
		class         tokenkeeper.Class
		failures      int
		transient     int
		minRetryAfter time.Duration
		code          tokenkeeper.Code
	}{
		{"429 with Retry-After", providertest.Response{Status: 429, Header: http.Header{"Retry-After": {"120"}}, Body: `{"error":"rate_limited"}`},
			tokenkeeper.StatusConnected, tokenkeeper.ClassTransient, 0, 1, 120 * time.Second, tokenkeeper.CodeTokenRefreshError},
		{"503", providertest.Response{Status: 503, Body: "<html>down</html>"},
			tokenkeeper.StatusConnected, tokenkeeper.ClassTransient, 0, 1, 0, tokenkeeper.CodeTokenRefreshError},
		{"invalid_grant revoked", providertest.Response{Status: 400, Body: `{"error":"invalid_grant","error_description":"Token has been expired or revoked."}`},
			tokenkeeper.StatusNeedsReauth, tokenkeeper.ClassRevoked, 1, 0, 0, tokenkeeper.CodeNeedsReauth},
		{"invalid_client", providertest.Response{Status: 401, Body: `{"error":"invalid_client"}`},
			tokenkeeper.StatusError, tokenkeeper.ClassConfig, 0, 0, 0, tokenkeeper.CodeTokenRefreshError},
		{"403 without a code", providertest.Response{Status: 403, Body: `forbidden`},
			tokenkeeper.StatusConnected, tokenkeeper.ClassPermanent, 1, 0, 0, tokenkeeper.CodeTokenRefreshError},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := setup(t, rotating(tokenkeeper.AuthPost))
			c, _ := f.link("u1", time.Hour)
			// A 5xx is retried once in line (the caller waits): script it twice.
			f.provider.Script(tc.response)
			if tc.response.Status >= 500 {
				f.provider.Script(tc.response)
			}
			before := time.Now().Truncate(time.Millisecond)
			_, err := f.keeper.Refresh(context.Background(), c.ID, tokenkeeper.TriggerManual, "")
			if tokenkeeper.ErrorCode(err) != tc.code {
				t.Fatalf("error %v, want code %s", err, tc.code)
			}
			n := f.get(c.ID)
			if n.Status != tc.status || n.ConsecutiveFailures != tc.failures || n.ConsecutiveTransientFailures != tc.transient {
				t.Fatalf("got status %s failures %d transient %d", n.Status, n.ConsecutiveFailures, n.ConsecutiveTransientFailures)
			}
			if n.LastError == nil || n.LastError.Class != tc.class {
				t.Fatalf("last error %+v, want class %s", n.LastError, tc.class)
			}
			if tc.minRetryAfter > 0 && n.NextRefreshAt.Before(before.Add(tc.minRetryAfter)) {
				t.Fatalf("next refresh %s is sooner than Retry-After", n.NextRefreshAt)
			}
			if tc.status == tokenkeeper.StatusConnected && n.NextRefreshAt.IsZero() {
				t.Fatal("no retry scheduled")
			}
			if tc.status != tokenkeeper.StatusConnected && !n.NextRefreshAt.IsZero() {
				t.Fatal("a retry is scheduled for a connection that must not be refreshed")
			}
			// A success resets both counters.
			if tc.status == tokenkeeper.StatusConnected {
				if _, err := f.keeper.Refresh(context.Background(), c.ID, tokenkeeper.TriggerManual, ""); err != nil {
					t.Fatal(err)
				}
				n = f.get(c.ID)
				if n.ConsecutiveFailures != 0 || n.ConsecutiveTransientFailures != 0 || n.LastError != nil {
					t.Fatalf("after success: %d %d %+v", n.ConsecutiveFailures, n.ConsecutiveTransientFailures, n.LastError)
				}
			}
		})
	}
}

func TestPermanentFailuresWarnThenNeedReauth(t *testing.T) {
	t.Parallel()
	f := setup(t, rotating(tokenkeeper.AuthPost))
	c, _ := f.link("u1", time.Hour)
	bad := providertest.Response{Status: 400, Body: `{"error":"invalid_grant","error_description":"the grant cannot be used now"}`}
	f.provider.Script(bad, bad, bad)
	for i := 1; i <= 3; i++ {
		_, err := f.keeper.Refresh(context.Background(), c.ID, tokenkeeper.TriggerManual, "")
		if err == nil {
			t.Fatalf("attempt %d succeeded", i)
		}
	}
	n := f.get(c.ID)
	if n.Status != tokenkeeper.StatusNeedsReauth || n.ConsecutiveFailures != 3 {
		t.Fatalf("status %s failures %d", n.Status, n.ConsecutiveFailures)
	}
	want := []tokenkeeper.EventType{tokenkeeper.EventConnected, tokenkeeper.EventRefreshWarning, tokenkeeper.EventNeedsReauth}
	if got := f.events(); !equalEvents(got, want) {
		t.Fatalf("events %v, want %v", got, want)
	}
	// needs_reauth is not refreshed again.
	if _, err := f.keeper.Refresh(context.Background(), c.ID, tokenkeeper.TriggerManual, ""); tokenkeeper.ErrorCode(err) != tokenkeeper.CodeNeedsReauth {
		t.Fatalf("refresh of needs_reauth: %v", err)
	}
	if f.provider.Refreshes() != 3 {
		t.Fatalf("provider saw %d refreshes", f.provider.Refreshes())
	}
	// Re-linking resets status and counters.
	g := f.provider.Grant("read")
	r, created, err := f.keeper.Link(context.Background(), tokenkeeper.LinkRequest{UserID: "u1", Provider: "acme", AccessToken: g.AccessToken, RefreshToken: g.RefreshToken, ExpiresIn: time.Hour})
	if err != nil || created || r.ID != c.ID || r.Status != tokenkeeper.StatusConnected || r.ConsecutiveFailures != 0 {
		t.Fatalf("relink: %+v created=%v err=%v", r, created, err)
	}
}

func TestRecoveryNoticeAfterWarning(t *testing.T) {
	t.Parallel()
	f := setup(t, rotating(tokenkeeper.AuthPost))
	c, _ := f.link("u1", time.Hour)
	bad := providertest.Response{Status: 401, Body: `{"error":"access_denied"}`}
	f.provider.Script(bad, bad)
	for range 2 {
		f.keeper.Refresh(context.Background(), c.ID, tokenkeeper.TriggerManual, "")
	}
	if _, err := f.keeper.Refresh(context.Background(), c.ID, tokenkeeper.TriggerManual, ""); err != nil {
		t.Fatal(err)
	}
	want := []tokenkeeper.EventType{tokenkeeper.EventConnected, tokenkeeper.EventRefreshWarning, tokenkeeper.EventRecovered}
	if got := f.events(); !equalEvents(got, want) {
		t.Fatalf("events %v, want %v", got, want)
	}
}

func TestInlineRetryOfTransientFailure(t *testing.T) {
	t.Parallel()
	f := setup(t, rotating(tokenkeeper.AuthPost))
	c, _ := f.link("u1", time.Hour)
	f.expire(c.ID)
	f.provider.Script(providertest.Response{Status: 503, Body: "busy"})
	if _, _, err := f.keeper.AccessToken(context.Background(), c.ID, 0); err != nil {
		t.Fatal(err)
	}
	attempts, _ := f.store.ListAttempts(context.Background(), c.ID, 10)
	if len(attempts) != 2 || attempts[0].Class != tokenkeeper.ClassSuccess || attempts[1].Class != tokenkeeper.ClassTransient {
		t.Fatalf("history %+v", attempts)
	}
}

func TestTransientFailureServesValidToken(t *testing.T) {
	t.Parallel()
	f := setup(t, rotating(tokenkeeper.AuthPost))
	c, g := f.link("u1", time.Hour)
	down := providertest.Response{Status: 502, Body: "bad gateway"}
	f.provider.FailAll(down)
	// The token is valid for an hour, but the caller asks for two: the refresh
	// fails, and the still-valid token is served.
	tok, _, err := f.keeper.AccessToken(context.Background(), c.ID, 2*time.Hour)
	if err != nil || tok.AccessToken != g.AccessToken {
		t.Fatalf("read during outage: %v", err)
	}
	// An expired token cannot be served: 503 with retry_after.
	f.expire(c.ID)
	_, _, err = f.keeper.AccessToken(context.Background(), c.ID, 0)
	var te *tokenkeeper.Error
	if !errors.As(err, &te) || te.Code != tokenkeeper.CodeTokenRefreshError || te.RetryAfter <= 0 {
		t.Fatalf("read of expired token during outage: %v", err)
	}
	if st := f.get(c.ID).Status; st != tokenkeeper.StatusConnected {
		t.Fatalf("status %s during an outage", st)
	}
}

func TestUndecryptableRowGoesToError(t *testing.T) {
	t.Parallel()
	f := setup(t, rotating(tokenkeeper.AuthPost))
	a, _ := f.link("u1", time.Hour)
	b, _ := f.link("u2", time.Hour)
	// Copy a's ciphertexts into b's row: they are bound to a's id and must not open.
	ca, cb := f.get(a.ID), f.get(b.ID)
	cb.SealedAccessToken, cb.SealedRefreshToken = ca.SealedAccessToken, ca.SealedRefreshToken
	if err := f.store.SaveConnection(context.Background(), tokenkeeper.Write{Connection: cb}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := f.keeper.AccessToken(context.Background(), b.ID, 2*time.Hour); err == nil {
		t.Fatal("a ciphertext copied from another row was accepted")
	}
	n := f.get(b.ID)
	if n.Status != tokenkeeper.StatusError || n.LastError == nil || n.LastError.Code != "undecryptable" {
		t.Fatalf("status %s, last error %+v", n.Status, n.LastError)
	}
	if f.provider.Refreshes() != 0 {
		t.Fatal("a refresh was sent for an undecryptable row")
	}
}

func TestNoRefreshTokenExpires(t *testing.T) {
	t.Parallel()
	f := setup(t, rotating(tokenkeeper.AuthPost))
	c, _, err := f.keeper.Link(context.Background(), tokenkeeper.LinkRequest{UserID: "u1", Provider: "acme", AccessToken: "at-only", ExpiresIn: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if !c.NextRefreshAt.Equal(c.ExpiresAt) {
		t.Fatalf("a connection without refresh token should be visited at expiry: next %s expires %s", c.NextRefreshAt, c.ExpiresAt)
	}
	f.expire(c.ID)
	_, _, err = f.keeper.AccessToken(context.Background(), c.ID, 0)
	if tokenkeeper.ErrorCode(err) != tokenkeeper.CodeNoRefreshToken {
		t.Fatalf("got %v", err)
	}
	if st := f.get(c.ID).Status; st != tokenkeeper.StatusExpired {
		t.Fatalf("status %s, want expired", st)
	}
}

func TestDisconnectRevokes(t *testing.T) {
	t.Parallel()
	f := setup(t, rotating(tokenkeeper.AuthBasic))
	c, g := f.link("u1", time.Hour)
	n, err := f.keeper.Disconnect(context.Background(), c.ID)
	if err != nil {
		t.Fatal(err)
	}
	if n.Status != tokenkeeper.StatusDisconnected || n.HasRefreshToken() || len(n.SealedAccessToken) != 0 {
		t.Fatalf("after disconnect: %+v", n)
	}
	if f.provider.Revocations() != 1 || f.provider.Alive(g.RefreshToken.Reveal()) {
		t.Fatal("the grant was not revoked at the provider")
	}
	if _, _, err := f.keeper.AccessToken(context.Background(), c.ID, 0); tokenkeeper.ErrorCode(err) != tokenkeeper.CodeAccountNotFound {
		t.Fatalf("token of a disconnected connection: %v", err)
	}
}

func TestDatabaseHoldsNoPlaintext(t *testing.T) {
	t.Parallel()
	f := setup(t, rotating(tokenkeeper.AuthPost))
	c, g := f.link("u1", time.Hour)
	f.expire(c.ID)
	tok, _, err := f.keeper.AccessToken(context.Background(), c.ID, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.store.Close()
	for _, suffix := range []string{"", "-wal"} {
		data, err := os.ReadFile(f.dbPath + suffix)
		if err != nil {
			continue
		}
		for _, s := range []tokenkeeper.Secret{g.AccessToken, g.RefreshToken, tok.AccessToken} {
			if strings.Contains(string(data), s.Reveal()) {
				t.Fatalf("plaintext token in %s", f.dbPath+suffix)
			}
		}
	}
}

func equalEvents(a, b []tokenkeeper.EventType) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
