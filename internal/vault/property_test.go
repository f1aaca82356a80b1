package vault

import (
	"bytes"
	"errors"
	"slices"
	"testing"

	"pgregory.net/rapid"
)

// Open(Seal(p, ad), ad) == p, and any other additional data fails.
func TestSealOpenProperty(t *testing.T) {
	t.Parallel()
	r := setup(t, testKey("k1", 1), testKey("k2", 2))
	rapid.Check(t, func(t *rapid.T) {
		p := rapid.SliceOfN(rapid.Byte(), 0, 512).Draw(t, "plaintext")
		ad := rapid.SliceOfN(rapid.Byte(), 0, 64).Draw(t, "ad")
		other := rapid.SliceOfN(rapid.Byte(), 0, 64).
			Filter(func(o []byte) bool { return !bytes.Equal(o, ad) }).Draw(t, "other ad")
		c, err := r.Seal(p, ad)
		if err != nil {
			t.Fatalf("Seal: %v", err)
		}
		got, err := r.Open(c, ad)
		if err != nil || !bytes.Equal(got, p) {
			t.Fatalf("Open(Seal(p, ad), ad) = %x, %v; want %x", got, err, p)
		}
		if _, err := r.Open(c, other); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("Open with other additional data: err = %v, want ErrCorrupt", err)
		}
	})
}

// Any ring order and any subset containing the sealing key opens; NeedsReseal
// is true exactly when the sealing key is not the primary.
func TestRingRotationProperty(t *testing.T) {
	t.Parallel()
	pool := []Key{testKey("a", 1), testKey("b", 2), testKey("c", 3), testKey("d", 4)}
	rapid.Check(t, func(t *rapid.T) {
		sealKey := rapid.SampledFrom(pool).Draw(t, "seal key")
		perm := rapid.Permutation(pool).Draw(t, "order")
		n := rapid.IntRange(1, len(pool)).Draw(t, "ring size")
		ring, err := NewRing(perm[:n]...)
		if err != nil {
			t.Fatal(err)
		}
		sealer, _ := NewRing(sealKey)
		c, _ := sealer.Seal([]byte("token"), nil)
		inRing := slices.Contains(ring.KeyIDs(), sealKey.ID)
		_, err = ring.Open(c, nil)
		switch {
		case inRing && err != nil:
			t.Fatalf("ring %v cannot open ciphertext of %s: %v", ring, sealKey.ID, err)
		case !inRing && !errors.Is(err, ErrUnknownKey):
			t.Fatalf("ring %v: err = %v, want ErrUnknownKey", ring, err)
		}
		if got, want := ring.NeedsReseal(c), sealKey.ID != ring.PrimaryID(); got != want {
			t.Fatalf("NeedsReseal = %v, want %v", got, want)
		}
	})
}
