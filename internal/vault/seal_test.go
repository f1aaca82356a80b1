package vault

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/tokenkeeper/tokenkeeper"
)

func TestSealOpenRoundTrip(t *testing.T) {
	t.Parallel()
	r := setup(t, testKey("k1", 1), testKey("k2", 2))
	tests := []struct {
		name      string
		plaintext []byte
		ad        []byte
	}{
		{"empty plaintext", nil, tokenkeeper.AdditionalData("conn_1", tokenkeeper.FieldAccessToken)},
		{"token", []byte("ya29.a0AfH6SM"), tokenkeeper.AdditionalData("conn_1", tokenkeeper.FieldRefreshToken)},
		{"binary", []byte{0, 1, 2, 255, 254}, []byte("ad")},
		{"no additional data", []byte("secret"), nil},
		{"large", bytes.Repeat([]byte("x"), 64<<10), []byte("ad")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := mustSeal(t, r, tt.plaintext, tt.ad)
			if want := 2 + len("k1") + nonceSize + len(tt.plaintext) + tagSize; len(c) != want {
				t.Errorf("len(ciphertext) = %d, want %d", len(c), want)
			}
			if len(tt.plaintext) > 4 && bytes.Contains(c, tt.plaintext) {
				t.Errorf("ciphertext contains the plaintext")
			}
			got, err := r.Open(c, tt.ad)
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			if !bytes.Equal(got, tt.plaintext) {
				t.Errorf("Open = %q, want %q", got, tt.plaintext)
			}
		})
	}
}

func TestSealFormat(t *testing.T) {
	t.Parallel()
	r := setup(t, testKey("primary-key_1", 7))
	a := mustSeal(t, r, []byte("same"), []byte("ad"))
	b := mustSeal(t, r, []byte("same"), []byte("ad"))
	if a[0] != Version || int(a[1]) != len("primary-key_1") || string(a[2:2+a[1]]) != "primary-key_1" {
		t.Errorf("header = %q, want version 1, length 13, id primary-key_1", a[:2+len("primary-key_1")])
	}
	if bytes.Equal(a, b) {
		t.Errorf("two seals of the same plaintext are equal: nonce not random")
	}
	if id, err := KeyIDOf(a); err != nil || id != "primary-key_1" {
		t.Errorf("KeyIDOf = %q, %v; want primary-key_1", id, err)
	}
}

func TestOpenWrongAdditionalData(t *testing.T) {
	t.Parallel()
	r := setup(t, testKey("k1", 1))
	ad := tokenkeeper.AdditionalData("conn_1", tokenkeeper.FieldAccessToken)
	c := mustSeal(t, r, []byte("token"), ad)
	tests := []struct {
		name string
		ad   []byte
	}{
		{"other row", tokenkeeper.AdditionalData("conn_2", tokenkeeper.FieldAccessToken)},
		{"other field", tokenkeeper.AdditionalData("conn_1", tokenkeeper.FieldRefreshToken)},
		{"none", nil},
		{"prefix", ad[:len(ad)-1]},
		{"extended", append(append([]byte(nil), ad...), 0)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := r.Open(c, tt.ad)
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("Open with %s additional data: err = %v, want ErrCorrupt", tt.name, err)
			}
			if !strings.Contains(err.Error(), `"k1"`) {
				t.Errorf("error %q does not name the key", err)
			}
		})
	}
}

func TestOpenTampered(t *testing.T) {
	t.Parallel()
	r := setup(t, testKey("k1", 1))
	ad := []byte("ad")
	c := mustSeal(t, r, []byte("refresh-token-plaintext"), ad)
	check := func(t *testing.T, what string, bad []byte) {
		t.Helper()
		_, err := r.Open(bad, ad)
		if !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrUnknownKey) {
			t.Fatalf("Open(%s) err = %v, want ErrCorrupt or ErrUnknownKey", what, err)
		}
		if strings.Contains(err.Error(), "refresh-token") {
			t.Fatalf("error %q contains the plaintext", err)
		}
	}
	t.Run("each byte flipped", func(t *testing.T) {
		t.Parallel()
		for i := range c {
			for _, mask := range []byte{0x01, 0x80} {
				bad := bytes.Clone(c)
				bad[i] ^= mask
				check(t, "flipped byte", bad)
			}
		}
	})
	t.Run("truncated", func(t *testing.T) {
		t.Parallel()
		for n := range len(c) {
			check(t, "truncated", c[:n])
		}
	})
	t.Run("extended", func(t *testing.T) {
		t.Parallel()
		check(t, "extended", append(bytes.Clone(c), 0))
	})
}

// The header is authenticated: renaming the key id to another key of the
// ring with the same material must not open.
func TestOpenKeyIDSwapped(t *testing.T) {
	t.Parallel()
	r := setup(t, testKey("ka", 9), testKey("kb", 9))
	c := mustSeal(t, r, []byte("token"), nil)
	c[3] = 'b'
	if _, err := r.Open(c, nil); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("Open with swapped key id: err = %v, want ErrCorrupt", err)
	}
}

func TestOpenUnknownKey(t *testing.T) {
	t.Parallel()
	sealer := setup(t, testKey("gone", 1))
	opener := setup(t, testKey("k2", 2))
	c := mustSeal(t, sealer, []byte("token"), nil)
	_, err := opener.Open(c, nil)
	if !errors.Is(err, ErrUnknownKey) {
		t.Fatalf("err = %v, want ErrUnknownKey", err)
	}
	if !strings.Contains(err.Error(), `"gone"`) {
		t.Errorf("error %q does not name the key id", err)
	}
}

func TestRotation(t *testing.T) {
	t.Parallel()
	old := setup(t, testKey("old", 1))
	oldC := mustSeal(t, old, []byte("token"), []byte("ad"))

	rotated := setup(t, testKey("new", 2), testKey("old", 1))
	if got := rotated.PrimaryID(); got != "new" {
		t.Errorf("PrimaryID = %q, want new", got)
	}
	if got := strings.Join(rotated.KeyIDs(), ","); got != "new,old" {
		t.Errorf("KeyIDs = %q, want new,old", got)
	}
	p, err := rotated.Open(oldC, []byte("ad"))
	if err != nil || string(p) != "token" {
		t.Fatalf("rotated ring Open(old ciphertext) = %q, %v", p, err)
	}
	if !rotated.NeedsReseal(oldC) {
		t.Errorf("NeedsReseal(old ciphertext) = false, want true")
	}
	newC := mustSeal(t, rotated, p, []byte("ad"))
	if rotated.NeedsReseal(newC) {
		t.Errorf("NeedsReseal(resealed) = true, want false")
	}
	if id, _ := KeyIDOf(newC); id != "new" {
		t.Errorf("resealed with %q, want new", id)
	}
	// Once everything is resealed the old key can go.
	onlyNew := setup(t, testKey("new", 2))
	if p, err := onlyNew.Open(newC, []byte("ad")); err != nil || string(p) != "token" {
		t.Errorf("new-only ring Open(resealed) = %q, %v", p, err)
	}
	if _, err := onlyNew.Open(oldC, []byte("ad")); !errors.Is(err, ErrUnknownKey) {
		t.Errorf("new-only ring Open(old ciphertext) err = %v, want ErrUnknownKey", err)
	}
}

func TestNeedsReseal(t *testing.T) {
	t.Parallel()
	r := setup(t, testKey("k1", 1), testKey("k0", 0))
	tests := []struct {
		name       string
		ciphertext []byte
		want       bool
	}{
		{"empty", nil, false},
		{"primary", sealWithNonce(t, r, 1, []byte("x"), nil), false},
		{"older key", sealWithNonce(t, setup(t, testKey("k0", 0)), 1, []byte("x"), nil), true},
		{"unknown key", sealWithNonce(t, setup(t, testKey("zz", 5)), 1, []byte("x"), nil), true},
		{"other version", []byte{2, 2, 'k', '1'}, true},
		{"garbage", []byte{1}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := r.NeedsReseal(tt.ciphertext); got != tt.want {
				t.Errorf("NeedsReseal = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestKeyIDOfErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		ciphertext []byte
	}{
		{"empty", nil},
		{"version only", []byte{1}},
		{"unknown version", []byte{2, 2, 'k', '1'}},
		{"id longer than data", []byte{1, 5, 'k', '1'}},
		{"empty id", []byte{1, 0}},
		{"invalid id characters", []byte{1, 2, 'k', '!'}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if id, err := KeyIDOf(tt.ciphertext); !errors.Is(err, ErrCorrupt) {
				t.Errorf("KeyIDOf = %q, %v; want ErrCorrupt", id, err)
			}
		})
	}
}

func TestRingConcurrentUse(t *testing.T) {
	t.Parallel()
	r := setup(t, testKey("k1", 1), testKey("k2", 2))
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for i := range 8 {
		wg.Go(func() {
			ad := tokenkeeper.AdditionalData(fmt.Sprintf("conn_%d", i), tokenkeeper.FieldAccessToken)
			for range 100 {
				c, err := r.Seal([]byte("token"), ad)
				if err == nil {
					_, err = r.Open(c, ad)
				}
				if err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}
