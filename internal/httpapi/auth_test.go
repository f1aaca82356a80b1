package httpapi

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/tokenkeeper/tokenkeeper"
	"github.com/tokenkeeper/tokenkeeper/internal/apikey"
)

// v1Routes is one request to every authenticated route.
var v1Routes = []struct{ method, target string }{
	{"POST", "/v1/connections"},
	{"GET", "/v1/connections"},
	{"GET", "/v1/connections/conn_x"},
	{"DELETE", "/v1/connections/conn_x"},
	{"POST", "/v1/connections/conn_x/refresh"},
	{"GET", "/v1/connections/conn_x/token"},
	{"GET", "/v1/users/u1/providers/acme/token"},
	{"POST", "/v1/sweeps"},
	{"GET", "/v1/users/u1/notifications"},
	{"POST", "/v1/notifications/ntf_x/read"},
	{"PUT", "/v1/users/u1/preferences"},
	{"GET", "/v1/deliveries"},
	{"POST", "/v1/deliveries/dlv_x/retry"},
}

// TestUnauthorized: every /v1 route refuses a request without a valid key,
// with 401 UNAUTHORIZED and WWW-Authenticate: Bearer.
func TestUnauthorized(t *testing.T) {
	t.Parallel()
	e := setup(t)
	revoked := e.newKey(tokenkeeper.ScopeAdmin)
	keys, err := e.store.ListAPIKeys(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range keys {
		if string(k.Hash) == string(apikey.Hash(revoked)) {
			if err := e.store.RevokeAPIKey(t.Context(), k.ID, baseTime); err != nil {
				t.Fatal(err)
			}
		}
	}
	unknown, _, _ := apikey.Generate("unknown", tokenkeeper.Scopes, baseTime)
	headers := map[string]string{
		"no key":        "",
		"empty bearer":  "Bearer ",
		"basic scheme":  "Basic " + e.admin,
		"no scheme":     e.admin,
		"malformed key": "Bearer tk_short",
		"unknown key":   "Bearer " + unknown.Reveal(),
		"revoked key":   "Bearer " + revoked,
		"key with junk": "Bearer " + e.admin + "x",
	}
	for name, h := range headers {
		for _, rt := range v1Routes {
			t.Run(name+"/"+rt.method+" "+rt.target, func(t *testing.T) {
				t.Parallel()
				req := newRequest(rt.method, rt.target, "", "")
				if h != "" {
					req.Header.Set("Authorization", h)
				}
				res := e.serve(req)
				wantError(t, res, http.StatusUnauthorized, tokenkeeper.CodeUnauthorized)
				if !strings.HasPrefix(res.Header.Get("WWW-Authenticate"), "Bearer") {
					t.Errorf("WWW-Authenticate = %q", res.Header.Get("WWW-Authenticate"))
				}
			})
		}
	}
}

// TestScopes: each route needs its scope; admin passes everywhere. A key
// with the scope gets past authorization (here to a 404, 400 or keeper
// call), a key without it gets 403 FORBIDDEN.
func TestScopes(t *testing.T) {
	t.Parallel()
	e := setup(t)
	e.keeper.disconnect = notFoundKeeper
	e.keeper.refresh = func(ctx context.Context, id string, _ tokenkeeper.Trigger, _ tokenkeeper.Secret) (*tokenkeeper.Connection, error) {
		return nil, tokenkeeper.ErrNotFound
	}
	e.keeper.accessToken = func(ctx context.Context, id string, _ time.Duration) (*tokenkeeper.Token, *tokenkeeper.Connection, error) {
		return nil, nil, tokenkeeper.ErrNotFound
	}
	allowed := map[string][]string{ // route → keys that pass
		"POST /v1/connections":                  {"admin", "writer"},
		"GET /v1/connections":                   {"admin", "writer", "reader"},
		"GET /v1/connections/conn_x":            {"admin", "writer", "reader"},
		"DELETE /v1/connections/conn_x":         {"admin", "writer"},
		"POST /v1/connections/conn_x/refresh":   {"admin", "writer"},
		"GET /v1/connections/conn_x/token":      {"admin", "reader"},
		"GET /v1/users/u1/providers/acme/token": {"admin", "reader"},
		"POST /v1/sweeps":                       {"admin"},
		"GET /v1/users/u1/notifications":        {"admin", "writer", "reader"},
		"POST /v1/notifications/ntf_x/read":     {"admin", "writer"},
		"PUT /v1/users/u1/preferences":          {"admin", "writer"},
		"GET /v1/deliveries":                    {"admin"},
		"POST /v1/deliveries/dlv_x/retry":       {"admin"},
	}
	keys := map[string]string{"admin": e.admin, "reader": e.reader, "writer": e.writer}
	for _, rt := range v1Routes {
		for name, key := range keys {
			route := rt.method + " " + rt.target
			t.Run(route+"/"+name, func(t *testing.T) {
				t.Parallel()
				res := e.do(rt.method, rt.target, key, nil)
				pass := false
				for _, k := range allowed[route] {
					pass = pass || k == name
				}
				if pass && (res.Status == http.StatusForbidden || res.Status == http.StatusUnauthorized) {
					t.Errorf("%s key refused: %d %s", name, res.Status, res.Body)
				}
				if !pass {
					wantError(t, res, http.StatusForbidden, tokenkeeper.CodeForbidden)
				}
			})
		}
	}
}

func notFoundKeeper(ctx context.Context, id string) (*tokenkeeper.Connection, error) {
	return nil, tokenkeeper.ErrNotFound
}

// TestTouchThrottled: a key's last use is recorded on first use, not again
// within a minute, and again after it.
func TestTouchThrottled(t *testing.T) {
	t.Parallel()
	e := setup(t)
	lastUsed := func() time.Time {
		t.Helper()
		keys, err := e.store.ListAPIKeys(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		for _, k := range keys {
			if k.Allows(tokenkeeper.ScopeTokensRead) && !k.Allows(tokenkeeper.ScopeAdmin) {
				return k.LastUsedAt
			}
		}
		t.Fatal("reader key not found")
		return time.Time{}
	}
	get := func() {
		t.Helper()
		if res := e.do("GET", "/v1/connections", e.reader, nil); res.Status != 200 {
			t.Fatalf("list: %d %s", res.Status, res.Body)
		}
	}
	if !lastUsed().IsZero() {
		t.Fatal("a new key has a last use")
	}
	get()
	if got := lastUsed(); !got.Equal(baseTime) {
		t.Fatalf("last use after first request = %v, want %v", got, baseTime)
	}
	e.clock.Advance(59 * time.Second)
	get()
	if got := lastUsed(); !got.Equal(baseTime) {
		t.Fatalf("last use 59s later = %v, want unchanged %v", got, baseTime)
	}
	e.clock.Advance(time.Second)
	get()
	if got, want := lastUsed(), baseTime.Add(time.Minute); !got.Equal(want) {
		t.Fatalf("last use a minute later = %v, want %v", got, want)
	}
}
