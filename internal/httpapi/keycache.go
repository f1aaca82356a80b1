package httpapi

import (
	"slices"
	"sync"
	"time"

	"github.com/tokenkeeper/tokenkeeper"
)

// maxKeyCacheEntries bounds the API key cache. Only keys that authenticated
// enter it, so it fills only when this many distinct valid keys are in use
// within one TTL; past that, keys that are not cached are read from the
// store on every request.
const maxKeyCacheEntries = 10000

// keyCache remembers the API keys that authenticated recently, by the
// SHA-256 hash of the presented key (never the key itself), so that repeated
// requests with the same key skip the store. An entry is used for at most
// ttl after it was loaded from the store; a key revoked in the store in the
// meantime is therefore accepted for at most ttl more. Keys that did not
// authenticate (unknown, malformed, revoked) are never added. A nil
// *keyCache caches nothing.
type keyCache struct {
	ttl     time.Duration
	max     int
	mu      sync.RWMutex
	entries map[[32]byte]keyEntry
}

// keyEntry is one cached key and when it was read from the store.
type keyEntry struct {
	key    tokenkeeper.APIKey
	loaded time.Time
}

// newKeyCache returns a cache whose entries live for ttl, holding at most
// maxEntries keys, or nil (no cache) when ttl <= 0.
func newKeyCache(ttl time.Duration, maxEntries int) *keyCache {
	if ttl <= 0 {
		return nil
	}
	return &keyCache{ttl: ttl, max: maxEntries, entries: make(map[[32]byte]keyEntry)}
}

// get returns a copy of the key cached under hash, and false when there is
// none or it was loaded ttl or more before now.
func (c *keyCache) get(hash [32]byte, now time.Time) (*tokenkeeper.APIKey, bool) {
	if c == nil {
		return nil, false
	}
	c.mu.RLock()
	e, ok := c.entries[hash]
	c.mu.RUnlock()
	if !ok || !c.fresh(e, now) {
		return nil, false
	}
	return cloneKey(&e.key), true
}

// put caches a copy of k, which authenticated with the key whose hash is
// hash, as loaded at now. When the cache is full it first drops the expired
// entries; if it is still full, k is not cached.
func (c *keyCache) put(hash [32]byte, k *tokenkeeper.APIKey, now time.Time) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.entries[hash]; !ok && len(c.entries) >= c.max {
		for h, e := range c.entries {
			if !c.fresh(e, now) {
				delete(c.entries, h)
			}
		}
		if len(c.entries) >= c.max {
			return
		}
	}
	c.entries[hash] = keyEntry{key: *cloneKey(k), loaded: now}
}

// len returns the number of entries, expired ones included.
func (c *keyCache) len() int {
	if c == nil {
		return 0
	}
	c.mu.RLock()
	defer c.mu.RUnlock()
	return len(c.entries)
}

// fresh reports whether e may still be used at now. An entry loaded after
// now (the clock stepped back) is not used.
func (c *keyCache) fresh(e keyEntry, now time.Time) bool {
	age := now.Sub(e.loaded)
	return age >= 0 && age < c.ttl
}

// cloneKey returns a copy of k that shares no memory with it.
func cloneKey(k *tokenkeeper.APIKey) *tokenkeeper.APIKey {
	cp := *k
	cp.Hash = slices.Clone(k.Hash)
	cp.Scopes = slices.Clone(k.Scopes)
	return &cp
}
