package httpapi

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/tokenkeeper/tokenkeeper"
)

func TestNewServerRequires(t *testing.T) {
	t.Parallel()
	e := setup(t)
	configs := map[string]Config{
		"no keeper":  {Store: e.store, Catalog: fakeCatalog{}},
		"no store":   {Keeper: e.keeper, Catalog: fakeCatalog{}},
		"no catalog": {Keeper: e.keeper, Store: e.store},
	}
	for name, cfg := range configs {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			defer func() {
				if recover() == nil {
					t.Error("NewServer did not panic")
				}
			}()
			NewServer(cfg)
		})
	}
}

// TestNewServerDefaults: a Config with only the required parts serves.
func TestNewServerDefaults(t *testing.T) {
	t.Parallel()
	e := setup(t)
	h := NewServer(Config{Keeper: e.keeper, Store: e.store, Catalog: fakeCatalog{}})
	for _, target := range []string{"/healthz", "/readyz"} {
		req := newRequest("GET", target, "", "")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		res := &response{Status: rec.Code, Header: rec.Header(), Body: rec.Body.Bytes()}
		validateResponse(t, req, res)
		if res.Status != http.StatusOK {
			t.Errorf("%s: %d %s", target, res.Status, res.Body)
		}
	}
	if New(Config{Keeper: e.keeper, Store: e.store, Catalog: fakeCatalog{}}).Handler() == nil {
		t.Error("Handler() is nil")
	}
}

// TestAPIKeyFrom: an authenticated handler finds the key in its context.
func TestAPIKeyFrom(t *testing.T) {
	t.Parallel()
	e := setup(t)
	var got *tokenkeeper.APIKey
	h := e.srv.observe(e.srv.authed(func(w http.ResponseWriter, r *http.Request) error {
		got, _ = APIKeyFrom(r.Context())
		e.srv.writeJSON(w, http.StatusOK, healthView{Status: "ok"})
		return nil
	}, tokenkeeper.ScopeTokensRead))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, newRequest("GET", "/healthz", e.reader, ""))
	if rec.Code != http.StatusOK || got == nil || !got.Allows(tokenkeeper.ScopeTokensRead) || got.Allows(tokenkeeper.ScopeAdmin) {
		t.Fatalf("status %d, key %+v", rec.Code, got)
	}
	if _, ok := APIKeyFrom(t.Context()); ok {
		t.Error("APIKeyFrom found a key in a bare context")
	}
}
