package httpapi

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tokenkeeper/tokenkeeper"
	"github.com/tokenkeeper/tokenkeeper/internal/apikey"
)

// countingStore counts the API key lookups of the store it wraps.
type countingStore struct {
	tokenkeeper.Store
	lookups atomic.Int64
}

func (s *countingStore) GetAPIKeyByHash(ctx context.Context, hash []byte) (*tokenkeeper.APIKey, error) {
	s.lookups.Add(1)
	return s.Store.GetAPIKeyByHash(ctx, hash)
}

// setupCached returns a server whose API key cache keeps keys for ttl (0:
// off), over a store that counts key lookups.
func setupCached(t *testing.T, ttl time.Duration) (*env, *countingStore) {
	t.Helper()
	var cs *countingStore
	e := setup(t, func(c *Config) {
		cs = &countingStore{Store: c.Store}
		c.Store = cs
		c.APIKeyCacheTTL = ttl
	})
	return e, cs
}

// storedKey returns the stored record of the plaintext key.
func (e *env) storedKey(plain string) *tokenkeeper.APIKey {
	e.t.Helper()
	keys, err := e.store.ListAPIKeys(e.t.Context())
	if err != nil {
		e.t.Fatal(err)
	}
	for _, k := range keys {
		if bytes.Equal(k.Hash, apikey.Hash(plain)) {
			return k
		}
	}
	e.t.Fatal("key not stored")
	return nil
}

// revoke revokes the plaintext key in the store, as `tokenkeeper apikeys
// revoke` in another process does: the server is not told.
func (e *env) revoke(plain string) {
	e.t.Helper()
	if err := e.store.RevokeAPIKey(e.t.Context(), e.storedKey(plain).ID, e.clock.Now()); err != nil {
		e.t.Fatal(err)
	}
}

// list sends GET /v1/connections with key and returns the status.
func (e *env) list(key string) int {
	e.t.Helper()
	return e.do("GET", "/v1/connections", key, nil).Status
}

// TestKeyCacheRevocation: a key revoked in the store is still accepted from
// the cache until the TTL has passed since it was read, and refused from
// then on; with the cache off it is refused at once.
func TestKeyCacheRevocation(t *testing.T) {
	t.Parallel()
	t.Run("ttl 5s", func(t *testing.T) {
		t.Parallel()
		e, cs := setupCached(t, 5*time.Second)
		if got := e.list(e.reader); got != http.StatusOK {
			t.Fatalf("first request: %d", got)
		}
		e.revoke(e.reader)
		e.clock.Advance(5*time.Second - time.Nanosecond)
		if got := e.list(e.reader); got != http.StatusOK {
			t.Fatalf("just under the TTL after the read, the revoked key got %d, want 200 from the cache", got)
		}
		if n := cs.lookups.Load(); n != 1 {
			t.Fatalf("%d store lookups within the TTL, want 1", n)
		}
		e.clock.Advance(time.Nanosecond)
		if got := e.list(e.reader); got != http.StatusUnauthorized {
			t.Fatalf("the TTL after the read, the revoked key got %d, want 401", got)
		}
		if got := e.list(e.reader); got != http.StatusUnauthorized {
			t.Fatalf("the revoked key got %d on the next request, want 401", got)
		}
		if n := cs.lookups.Load(); n != 3 {
			t.Fatalf("%d store lookups, want 3 (the revoked key is read every time)", n)
		}
	})
	t.Run("ttl 0", func(t *testing.T) {
		t.Parallel()
		e, cs := setupCached(t, 0)
		if e.srv.keys != nil {
			t.Fatal("TTL 0 made a cache")
		}
		for range 2 {
			if got := e.list(e.reader); got != http.StatusOK {
				t.Fatalf("request: %d", got)
			}
		}
		if n := cs.lookups.Load(); n != 2 {
			t.Fatalf("%d store lookups for 2 requests, want 2", n)
		}
		e.revoke(e.reader)
		if got := e.list(e.reader); got != http.StatusUnauthorized {
			t.Fatalf("revoked key got %d at once, want 401", got)
		}
	})
}

// TestKeyCacheExpiry: a valid key is read again once its entry is TTL old,
// and cached again from that read.
func TestKeyCacheExpiry(t *testing.T) {
	t.Parallel()
	e, cs := setupCached(t, 5*time.Second)
	want := []int64{1, 1, 2, 2, 3} // lookups after each request
	for i, step := range []time.Duration{0, 4 * time.Second, time.Second, 4 * time.Second, time.Second} {
		e.clock.Advance(step)
		if got := e.list(e.reader); got != http.StatusOK {
			t.Fatalf("request %d: %d", i, got)
		}
		if n := cs.lookups.Load(); n != want[i] {
			t.Fatalf("after request %d: %d store lookups, want %d", i, n, want[i])
		}
	}
}

// TestKeyCacheOnlyValidKeys: unknown, malformed and revoked keys go to the
// store (malformed ones are refused before it) on every request and never
// enter the cache.
func TestKeyCacheOnlyValidKeys(t *testing.T) {
	t.Parallel()
	e, cs := setupCached(t, time.Hour)
	unknown, _, err := apikey.Generate("unknown", tokenkeeper.Scopes, baseTime)
	if err != nil {
		t.Fatal(err)
	}
	revoked := e.newKey(tokenkeeper.ScopeAdmin)
	e.revoke(revoked)
	for _, tc := range []struct {
		name    string
		key     string
		lookups int64 // per request
	}{
		{"unknown", unknown.Reveal(), 1},
		{"revoked", revoked, 1},
		{"malformed", "tk_short", 0},
		{"valid key with junk", e.admin + "x", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := cs.lookups.Load()
			for range 3 {
				if got := e.list(tc.key); got != http.StatusUnauthorized {
					t.Fatalf("got %d, want 401", got)
				}
			}
			if n := cs.lookups.Load() - before; n != 3*tc.lookups {
				t.Errorf("%d store lookups for 3 requests, want %d", n, 3*tc.lookups)
			}
			if n := e.srv.keys.len(); n != 0 {
				t.Errorf("%d cache entries, want 0", n)
			}
		})
	}
	if got := e.list(e.admin); got != http.StatusOK {
		t.Fatalf("valid key: %d", got)
	}
	if n := e.srv.keys.len(); n != 1 {
		t.Errorf("%d cache entries after a valid key, want 1", n)
	}
}

// TestKeyCacheHoldsStoredKey: a request served from the cache sees the key
// as stored (id, hash, scopes), its scopes are enforced as on a store read,
// and a handler that changes its copy does not change the cached one.
func TestKeyCacheHoldsStoredKey(t *testing.T) {
	t.Parallel()
	e, cs := setupCached(t, time.Minute)
	plain := e.newKey(tokenkeeper.ScopeTokensRead, tokenkeeper.ScopeConnectionsWrite)
	stored := e.storedKey(plain)
	var seen []*tokenkeeper.APIKey
	h := e.srv.observe(e.srv.authed(func(w http.ResponseWriter, r *http.Request) error {
		k, _ := APIKeyFrom(r.Context())
		seen = append(seen, k)
		k.Scopes[0] = tokenkeeper.ScopeAdmin // must not reach the cache
		e.srv.writeJSON(w, http.StatusOK, healthView{Status: "ok"})
		return nil
	}, tokenkeeper.ScopeTokensRead))
	for range 3 {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, newRequest("GET", "/healthz", plain, ""))
		if rec.Code != http.StatusOK {
			t.Fatalf("status %d: %s", rec.Code, rec.Body)
		}
	}
	if n := cs.lookups.Load(); n != 1 {
		t.Fatalf("%d store lookups, want 1", n)
	}
	for i, k := range seen {
		if k.ID != stored.ID || !bytes.Equal(k.Hash, stored.Hash) || k.Name != stored.Name || !k.CreatedAt.Equal(stored.CreatedAt) {
			t.Errorf("request %d saw key %+v, want %+v", i, k, stored)
		}
	}
	cached, ok := e.srv.keys.get([32]byte(apikey.Hash(plain)), e.clock.Now())
	if !ok || !slices.Equal(cached.Scopes, stored.Scopes) || cached.ID != stored.ID {
		t.Fatalf("cached key %+v (%v), want the stored scopes %v", cached, ok, stored.Scopes)
	}
	// Served from the cache, the key still lacks admin and has connections:write.
	if res := e.do("POST", "/v1/sweeps", plain, map[string]any{}); res.Status != http.StatusForbidden {
		t.Errorf("POST /v1/sweeps with a cached non-admin key: %d, want 403", res.Status)
	}
	if res := e.do("GET", "/v1/deliveries", plain, nil); res.Status != http.StatusForbidden {
		t.Errorf("GET /v1/deliveries with a cached non-admin key: %d, want 403", res.Status)
	}
	if got := e.list(plain); got != http.StatusOK {
		t.Errorf("GET /v1/connections with a cached tokens:read key: %d, want 200", got)
	}
	if n := cs.lookups.Load(); n != 1 {
		t.Fatalf("%d store lookups, want 1 (all from the cache)", n)
	}
}

// TestKeyCacheBound: a full cache drops its expired entries to make room,
// and adds nothing while every entry is fresh; a cached key may be renewed
// while full.
func TestKeyCacheBound(t *testing.T) {
	t.Parallel()
	c := newKeyCache(5*time.Second, 3)
	key := func(i byte) (hash [32]byte, k *tokenkeeper.APIKey) {
		hash[0] = i
		return hash, &tokenkeeper.APIKey{ID: "key_" + string('a'+rune(i)), Hash: hash[:], Scopes: []tokenkeeper.Scope{tokenkeeper.ScopeTokensRead}}
	}
	has := func(i byte, now time.Time) bool {
		h, _ := key(i)
		_, ok := c.get(h, now)
		return ok
	}
	t0 := baseTime
	for i := range byte(3) {
		h, k := key(i)
		c.put(h, k, t0.Add(time.Duration(i)*time.Second)) // loaded at t0, t0+1s, t0+2s
	}
	h3, k3 := key(3)
	c.put(h3, k3, t0.Add(2*time.Second))
	if c.len() != 3 || has(3, t0.Add(2*time.Second)) {
		t.Fatalf("a full cache of fresh entries took a new key (%d entries)", c.len())
	}
	h0, k0 := key(0)
	c.put(h0, k0, t0.Add(4*time.Second)) // renewal of a cached key while full
	if c.len() != 3 || !has(0, t0.Add(8*time.Second)) {
		t.Fatal("a cached key was not renewed while the cache was full")
	}
	// At t0+6s the entry of key 1 (loaded at t0+1s) has expired: it makes room.
	c.put(h3, k3, t0.Add(6*time.Second))
	if c.len() != 3 || !has(3, t0.Add(6*time.Second)) || has(1, t0.Add(6*time.Second)) {
		t.Fatalf("after expiry: %d entries, key 3 cached %v", c.len(), has(3, t0.Add(6*time.Second)))
	}
	if !has(2, t0.Add(6*time.Second)) || has(2, t0.Add(7*time.Second)) {
		t.Error("key 2 (loaded at t0+2s) is not fresh until t0+7s exactly")
	}
	if has(0, t0.Add(3*time.Second)) {
		t.Error("an entry loaded after now (the clock stepped back) was used")
	}
}

// TestKeyCacheServerBound: the server's cache holds at most
// maxKeyCacheEntries keys.
func TestKeyCacheServerBound(t *testing.T) {
	t.Parallel()
	e, _ := setupCached(t, time.Minute)
	if e.srv.keys == nil || e.srv.keys.max != maxKeyCacheEntries || e.srv.keys.ttl != time.Minute {
		t.Fatalf("server cache = %+v, want TTL 1m and %d entries at most", e.srv.keys, maxKeyCacheEntries)
	}
}

// TestKeyCacheConcurrent: many requests at once with a few keys, under the
// race detector, all succeed and read each key about once.
func TestKeyCacheConcurrent(t *testing.T) {
	t.Parallel()
	e, cs := setupCached(t, time.Minute)
	keys := []string{e.admin, e.reader, e.writer}
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 30 {
				req := newRequest("GET", "/v1/connections", keys[(g+i)%len(keys)], "")
				rec := httptest.NewRecorder()
				e.srv.ServeHTTP(rec, req)
				if rec.Code != http.StatusOK {
					t.Errorf("status %d: %s", rec.Code, rec.Body)
					return
				}
			}
		})
	}
	wg.Wait()
	// Requests that miss at the same time all read; afterwards all hit.
	if n := cs.lookups.Load(); n < 3 || n > 3*8 {
		t.Errorf("%d store lookups for 240 requests with 3 keys, want 3 to 24", n)
	}
	if n := e.srv.keys.len(); n != 3 {
		t.Errorf("%d cache entries, want 3", n)
	}
}
