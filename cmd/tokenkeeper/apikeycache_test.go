package main

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestAPIKeyCacheTTLSetting: api_key_cache_ttl defaults to 5s and is read
// from the YAML file, the environment and serve's --api-key-cache-ttl, in
// that order of precedence; 0 is allowed (the cache is off).
func TestAPIKeyCacheTTLSetting(t *testing.T) {
	t.Parallel()
	file := filepath.Join(t.TempDir(), "tokenkeeper.yaml")
	if err := os.WriteFile(file, []byte("api_key_cache_ttl: 30s\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	load := func(vars map[string]string, args ...string) time.Duration {
		t.Helper()
		cfg, err := loadServeConfig(t, vars, args...)
		if err != nil {
			t.Fatal(err)
		}
		return cfg.APIKeyCacheTTL
	}
	for _, tc := range []struct {
		name string
		env  map[string]string
		args []string
		want time.Duration
	}{
		{"default", nil, nil, 5 * time.Second},
		{"file", map[string]string{"TOKENKEEPER_CONFIG": file}, nil, 30 * time.Second},
		{"environment over file", map[string]string{"TOKENKEEPER_CONFIG": file, "TOKENKEEPER_API_KEY_CACHE_TTL": "2s"}, nil, 2 * time.Second},
		{"flag over environment", map[string]string{"TOKENKEEPER_API_KEY_CACHE_TTL": "2s"}, []string{"--api-key-cache-ttl", "0"}, 0},
		{"off", map[string]string{"TOKENKEEPER_API_KEY_CACHE_TTL": "0"}, nil, 0},
	} {
		if got := load(tc.env, tc.args...); got != tc.want {
			t.Errorf("%s: api_key_cache_ttl = %v, want %v", tc.name, got, tc.want)
		}
	}
}

// TestServeAPIKeyCache: serve passes api_key_cache_ttl to the API. A key
// revoked with `tokenkeeper apikeys revoke` (another process, as far as
// serve knows) is still accepted while its cache entry lasts (1h here), and
// refused at once with the cache off.
func TestServeAPIKeyCache(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		ttl         string
		afterRevoke int
	}{
		{"1h", http.StatusOK},
		{"0", http.StatusUnauthorized},
	} {
		t.Run("ttl "+tc.ttl, func(t *testing.T) {
			t.Parallel()
			e := newTestEnv(t, nil)
			e.vars["TOKENKEEPER_API_KEY_CACHE_TTL"] = tc.ttl
			key := e.apiKey("tokens:read")
			base := e.serve()
			if got := call(t, "GET", base+"/v1/connections", key, nil, nil); got != http.StatusOK {
				t.Fatalf("before the revocation: %d", got)
			}
			out, err := e.run("", "apikeys", "list")
			if err != nil {
				t.Fatal(err)
			}
			id := ""
			for line := range strings.Lines(out) {
				if f := strings.Fields(line); len(f) > 0 && strings.HasPrefix(f[0], "key_") {
					id = f[0]
				}
			}
			if _, err := e.run("", "apikeys", "revoke", id); err != nil {
				t.Fatalf("revoke %q: %v", id, err)
			}
			if got := call(t, "GET", base+"/v1/connections", key, nil, nil); got != tc.afterRevoke {
				t.Fatalf("after the revocation: %d, want %d", got, tc.afterRevoke)
			}
		})
	}
}
