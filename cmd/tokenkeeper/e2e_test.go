package main

import (
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tokenkeeper/tokenkeeper"
	"github.com/tokenkeeper/tokenkeeper/internal/oidctest"
)

type tokenResponse struct {
	AccessToken string    `json:"access_token"`
	TokenType   string    `json:"token_type"`
	ExpiresAt   time.Time `json:"expires_at"`
}

type connectionResponse struct {
	ID                           string `json:"id"`
	Status                       string `json:"status"`
	ConsecutiveFailures          int    `json:"consecutive_failures"`
	ConsecutiveTransientFailures int    `json:"consecutive_transient_failures"`
}

type errorResponse struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

// TestEndToEndAgainstOIDCProvider: a connection obtained at a real
// authorization server with a rotating client is imported through the API;
// 50 concurrent reads of its expired token return one new token, refreshed
// exactly once at the provider, whose reuse detection never fires; the grant
// stays alive. Both client authentication styles.
func TestEndToEndAgainstOIDCProvider(t *testing.T) {
	t.Parallel()
	as := oidctest.Start(t, oidctest.Options{StrictClientAuth: true})
	for _, client := range []string{oidctest.RotatingBasic, oidctest.RotatingPost} {
		t.Run(client, func(t *testing.T) {
			t.Parallel()
			name := "oidc-" + strings.TrimPrefix(client, "rotating-")
			env := newTestEnv(t, map[string]*tokenkeeper.Provider{name: as.Provider(name, client)})
			key := env.apiKey("tokens:read,connections:write")
			base := env.serve()
			grant := as.Grant(t, client, oidctest.DefaultRedirectURI, "read", "write")
			// Counted from before the import: serve's scheduler may refresh
			// the expired token before the readers come; either way the
			// provider must see exactly one refresh.
			before := as.Stats(t)

			var conn connectionResponse
			status := call(t, "POST", base+"/v1/connections", key, map[string]any{
				"user_id": "u42", "provider": name, "account_id": "alice",
				"access_token": grant.AccessToken, "refresh_token": grant.RefreshToken,
				"expires_at": time.Now().Add(-time.Second).Format(time.RFC3339), // already expired
				"scopes":     []string{"read", "write"},
			}, &conn)
			if status != http.StatusCreated || conn.Status != "connected" {
				t.Fatalf("import: %d %+v", status, conn)
			}

			// 50 callers read the expired token at once: exactly one refresh.
			var wg sync.WaitGroup
			got := make(chan string, 50)
			for range 50 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					var tr tokenResponse
					if status := call(t, "GET", base+"/v1/connections/"+conn.ID+"/token", key, nil, &tr); status != 200 {
						t.Errorf("concurrent token read: %d", status)
					}
					got <- tr.AccessToken
				}()
			}
			wg.Wait()
			close(got)
			distinct := map[string]bool{}
			for s := range got {
				distinct[s] = true
			}
			after := as.Stats(t)
			refreshes := after.RefreshRequestsByClient[client] - before.RefreshRequestsByClient[client]
			if refreshes != 1 {
				t.Fatalf("provider saw %d refresh requests, want 1", refreshes)
			}
			if after.ReuseDetections != before.ReuseDetections || after.InvalidGrant != before.InvalidGrant {
				t.Fatalf("reuse detections %d → %d, invalid_grant %d → %d", before.ReuseDetections, after.ReuseDetections, before.InvalidGrant, after.InvalidGrant)
			}
			if len(distinct) != 1 {
				t.Fatalf("50 callers got %d different tokens", len(distinct))
			}
			var latest string
			for s := range distinct {
				latest = s
			}
			if latest == "" || latest == grant.AccessToken || !as.Active(t, client, latest) {
				t.Fatal("expected a new access token, active at the provider: the grant is alive")
			}
			var c connectionResponse
			call(t, "GET", base+"/v1/connections/"+conn.ID, key, nil, &c)
			if c.Status != "connected" || c.ConsecutiveFailures != 0 {
				t.Fatalf("connection %+v", c)
			}
			// A later read within the token's validity is served without a refresh.
			var again tokenResponse
			call(t, "GET", base+"/v1/connections/"+conn.ID+"/token", key, nil, &again)
			if again.AccessToken != latest || as.Stats(t).RefreshRequestsByClient[client] != after.RefreshRequestsByClient[client] {
				t.Fatal("a fresh token was refreshed again")
			}
			assertNoPlaintext(t, env.dir, env.logs.String(), grant.AccessToken, grant.RefreshToken, latest)
		})
	}
}

func TestAPIRejectsBadRequests(t *testing.T) {
	t.Parallel()
	env := newTestEnv(t, nil)
	key := env.apiKey("tokens:read,connections:write")
	base := env.serve()
	cases := []struct {
		name   string
		key    string
		body   string
		status int
		code   string
	}{
		{"no API key", "", `{}`, 401, "UNAUTHORIZED"},
		{"wrong API key", "tk_" + strings.Repeat("A", 43), `{}`, 401, "UNAUTHORIZED"},
		{"malformed JSON", key, `{"user_id": `, 400, "INVALID_REQUEST"},
		{"unknown provider", key, `{"user_id":"u1","provider":"nope","access_token":"x"}`, 400, "PROVIDER_UNKNOWN"},
		{"missing access token", key, `{"user_id":"u1","provider":"spotify"}`, 400, "INVALID_REQUEST"},
		{"body over the limit", key, `{"user_id":"u1","provider":"spotify","access_token":"` + strings.Repeat("a", 2<<20) + `"}`, 400, "INVALID_REQUEST"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			req, _ := http.NewRequest("POST", base+"/v1/connections", strings.NewReader(tc.body))
			req.Header.Set("Content-Type", "application/json")
			if tc.key != "" {
				req.Header.Set("Authorization", "Bearer "+tc.key)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var e errorResponse
			if err := json.NewDecoder(resp.Body).Decode(&e); err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != tc.status || e.Error.Code != tc.code {
				t.Fatalf("got %d %s (%s), want %d %s", resp.StatusCode, e.Error.Code, e.Error.Message, tc.status, tc.code)
			}
		})
	}
	// Nothing was stored by any of them.
	var list struct {
		Connections []connectionResponse `json:"connections"`
	}
	call(t, "GET", base+"/v1/connections", key, nil, &list)
	if len(list.Connections) != 0 {
		t.Fatalf("%d connections stored by bad requests", len(list.Connections))
	}
}

// TestRefreshTokenOfAnotherClient: a refresh token issued to one client is
// imported under a provider configured with another client. The
// authorization server refuses it; tokenkeeper classifies the answer
// (needs_reauth) and serves a clear error.
func TestRefreshTokenOfAnotherClient(t *testing.T) {
	t.Parallel()
	as := oidctest.Start(t, oidctest.Options{})
	env := newTestEnv(t, map[string]*tokenkeeper.Provider{"oidc": as.Provider("oidc", oidctest.StaticPost)})
	key := env.apiKey("tokens:read,connections:write")
	base := env.serve()
	grant := as.Grant(t, oidctest.StaticBasic, oidctest.DefaultRedirectURI, "read")
	var conn connectionResponse
	call(t, "POST", base+"/v1/connections", key, map[string]any{
		"user_id": "u1", "provider": "oidc", "access_token": grant.AccessToken, "refresh_token": grant.RefreshToken, "expires_in": 1,
	}, &conn)
	var e errorResponse
	status := call(t, "GET", base+"/v1/connections/"+conn.ID+"/token?min_validity=1h", key, nil, &e)
	if status != http.StatusConflict || e.Error.Code != "NEEDS_REAUTH" {
		t.Fatalf("got %d %+v", status, e)
	}
	call(t, "GET", base+"/v1/connections/"+conn.ID, key, nil, &conn)
	if conn.Status != "needs_reauth" {
		t.Fatalf("status %s", conn.Status)
	}
}
