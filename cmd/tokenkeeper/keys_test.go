package main

import (
	"fmt"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/tokenkeeper/tokenkeeper"
	"github.com/tokenkeeper/tokenkeeper/internal/providertest"
	"github.com/tokenkeeper/tokenkeeper/internal/vault"
)

// TestKeyRotationWhileServing: `keys rotate` adds a key and re-encrypts every
// row while token reads and refreshes go on; the old key is then retired and
// everything still reads.
func TestKeyRotationWhileServing(t *testing.T) {
	t.Parallel()
	prov := providertest.New(providertest.Options{Rotate: true, ReuseDetection: true})
	t.Cleanup(prov.Close)
	env := newTestEnv(t, map[string]*tokenkeeper.Provider{"acme": prov.Provider("acme")})
	key := env.apiKey("tokens:read,connections:write")
	base := env.serve()

	var ids []string
	for i := range 20 {
		g := prov.Grant("read")
		var c connectionResponse
		if status := call(t, "POST", base+"/v1/connections", key, map[string]any{
			"user_id": fmt.Sprintf("u%d", i), "provider": "acme", "access_token": g.AccessToken.Reveal(),
			"refresh_token": g.RefreshToken.Reveal(), "expires_in": 3600, "user_email": fmt.Sprintf("u%d@example.com", i),
		}, &c); status != 201 {
			t.Fatalf("link: %d", status)
		}
		ids = append(ids, c.ID)
	}
	oldKey := readKeyIDs(t, env)[0]

	// Reads and refreshes go on during the rotation.
	var stop atomic.Bool
	var failures, reads atomic.Int64
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; !stop.Load(); i++ {
				id := ids[i%len(ids)]
				if i%3 == 0 {
					if status := call(t, "POST", base+"/v1/connections/"+id+"/refresh", key, nil, nil); status != 200 {
						failures.Add(1)
					}
					continue
				}
				var tok tokenResponse
				if status := call(t, "GET", base+"/v1/connections/"+id+"/token", key, nil, &tok); status != 200 || tok.AccessToken == "" {
					failures.Add(1)
				}
				reads.Add(1)
			}
		}()
	}
	out, err := env.run("", "keys", "rotate", "--batch", "7")
	if err != nil {
		t.Fatalf("keys rotate: %v\n%s", err, out)
	}
	t.Log(out)
	// Rows a refresh held during the pass are re-encrypted by a second pass.
	if !strings.Contains(out, " 0 busy") {
		if out, err = env.run("", "keys", "rotate", "--reencrypt-only"); err != nil {
			t.Fatalf("keys rotate --reencrypt-only: %v\n%s", err, out)
		}
	}
	stop.Store(true)
	wg.Wait()
	if failures.Load() != 0 {
		t.Fatalf("%d of the requests during the rotation failed", failures.Load())
	}
	keys := readKeyIDs(t, env)
	if len(keys) != 2 || keys[1] != oldKey {
		t.Fatalf("key file holds %v, want a new key followed by %s", keys, oldKey)
	}
	// Values written by the server just after the rotation may still use the
	// old key until it rereads the file: a last pass catches them.
	if out, err = env.run("", "keys", "rotate", "--reencrypt-only"); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	out, err = env.run("", "keys", "retire", oldKey)
	if err != nil {
		t.Fatalf("keys retire: %v\n%s", err, out)
	}
	if keys := readKeyIDs(t, env); len(keys) != 1 || keys[0] == oldKey {
		t.Fatalf("after retire the key file holds %v", keys)
	}
	status, err := env.run("", "keys", "status")
	if err != nil || strings.Contains(status, oldKey) || !strings.Contains(status, "primary") {
		t.Fatalf("keys status: %v\n%s", err, status)
	}
	for _, id := range ids {
		var tok tokenResponse
		if status := call(t, "GET", base+"/v1/connections/"+id+"/token", key, nil, &tok); status != 200 {
			t.Fatalf("read after the old key was retired: %d", status)
		}
	}
	t.Logf("%d reads during the rotation, none failed", reads.Load())
}

func TestKeyRetireRefusesAKeyInUse(t *testing.T) {
	t.Parallel()
	prov := providertest.New(providertest.Options{})
	t.Cleanup(prov.Close)
	env := newTestEnv(t, map[string]*tokenkeeper.Provider{"acme": prov.Provider("acme")})
	g := prov.Grant("read")
	in := fmt.Sprintf(`{"user_id":"u1","provider":"acme","access_token":%q,"refresh_token":%q,"expires_in":3600}`, g.AccessToken.Reveal(), g.RefreshToken.Reveal())
	if out, err := env.run(in, "connections", "import"); err != nil {
		t.Fatalf("import: %v %s", err, out)
	}
	old := readKeyIDs(t, env)[0]
	// A new key is added by hand (first), nothing re-encrypted yet.
	k, _ := vault.GenerateKey()
	ring, err := vault.ParseKeyRing(mustRead(t, env.dir+"/tokenkeeper.key"))
	if err != nil {
		t.Fatal(err)
	}
	ring, _ = vault.NewRing(append([]vault.Key{k}, ring.Keys()...)...)
	if err := vault.WriteKeyFile(env.dir+"/tokenkeeper.key", ring); err != nil {
		t.Fatal(err)
	}
	if out, err := env.run("", "keys", "retire", old); err == nil || !strings.Contains(err.Error(), "still sealed") {
		t.Fatalf("retire of a key in use: %v %s", err, out)
	}
	if out, err := env.run("", "keys", "retire", k.ID); err == nil {
		t.Fatalf("retire of the primary key succeeded: %s", out)
	}
}

func readKeyIDs(t *testing.T, env *testEnv) []string {
	t.Helper()
	ring, err := vault.ParseKeyRing(mustRead(t, env.dir+"/tokenkeeper.key"))
	if err != nil {
		t.Fatal(err)
	}
	return ring.KeyIDs()
}

func mustRead(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
