package vault

import (
	"bytes"
	"testing"
)

// testKey returns a key whose material is seed, seed+1, … seed+31.
func testKey(id string, seed byte) Key {
	k := Key{ID: id}
	for i := range k.Material {
		k.Material[i] = seed + byte(i)
	}
	return k
}

// setup returns a ring of the given keys, failing the test on error.
func setup(t testing.TB, keys ...Key) *Ring {
	t.Helper()
	r, err := NewRing(keys...)
	if err != nil {
		t.Fatalf("NewRing: %v", err)
	}
	return r
}

// sealWithNonce seals like r.Seal but with a nonce of twelve copies of n, so
// that fuzz seeds and committed corpus files are reproducible.
func sealWithNonce(t testing.TB, r *Ring, n byte, plaintext, ad []byte) []byte {
	t.Helper()
	fixed := *r
	fixed.random = bytes.NewReader(bytes.Repeat([]byte{n}, nonceSize))
	c, err := fixed.Seal(plaintext, ad)
	if err != nil {
		t.Fatalf("Seal: %v", err)
	}
	return c
}

func mustSeal(t testing.TB, r *Ring, plaintext, ad []byte) []byte {
	t.Helper()
	c, err := r.Seal(plaintext, ad)
	if err != nil {
		t.Fatalf("Seal: %v", err)
	}
	return c
}
