package vault

import (
	"errors"
	"strings"
	"testing"
	"unicode"

	"github.com/tokenkeeper/tokenkeeper"
)

// sealedValue is what a valid fuzz seed opens to.
type sealedValue struct{ ad, plaintext string }

// openFixtures returns the ring FuzzOpen opens with, the seeds to start
// from, and every ciphertext that may open (all made by Seal, with fixed
// nonces so that committed corpus files stay valid).
func openFixtures(t testing.TB) (ring *Ring, seeds [][2][]byte, valid map[string]sealedValue) {
	primary, older := testKey("k1", 1), testKey("k0-old", 0x40)
	ring = setup(t, primary, older)
	valid = make(map[string]sealedValue)
	seal := func(r *Ring, n byte, p string, ad []byte) []byte {
		c := sealWithNonce(t, r, n, []byte(p), ad)
		valid[string(c)] = sealedValue{string(ad), p}
		return c
	}
	adA := tokenkeeper.AdditionalData("conn_a", tokenkeeper.FieldAccessToken)
	adB := tokenkeeper.AdditionalData("conn_a", tokenkeeper.FieldRefreshToken)
	byPrimary := seal(ring, 1, "access-token-plaintext", adA)
	byOlder := seal(setup(t, older), 2, "refresh-token-plaintext", adB)
	empty := seal(ring, 3, "", nil)
	unknown := sealWithNonce(t, setup(t, testKey("k9", 9)), 4, []byte("unknown-key-plaintext"), adA)
	seeds = [][2][]byte{
		{byPrimary, adA},
		{byOlder, adB},
		{empty, nil},
		{byPrimary, adB},                    // other field
		{byOlder, adA},                      // other field
		{unknown, adA},                      // key not in the ring
		{byPrimary[:len(byPrimary)-1], adA}, // truncated tag
		{byPrimary[:4], adA},                // header only
		{append([]byte{2}, byPrimary[1:]...), adA}, // other version
		{nil, nil},
	}
	return ring, seeds, valid
}

// Open never panics on arbitrary input, fails only with its sentinels, and
// succeeds only for a ciphertext Seal made, with its additional data.
func FuzzOpen(f *testing.F) {
	ring, seeds, valid := openFixtures(f)
	for _, s := range seeds {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, ciphertext, ad []byte) {
		ring.NeedsReseal(ciphertext)
		if id, err := KeyIDOf(ciphertext); err == nil && !validID(id) {
			t.Fatalf("KeyIDOf returned invalid id %q", id)
		}
		p, err := ring.Open(ciphertext, ad)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrUnknownKey) {
				t.Fatalf("Open error %v wraps neither ErrCorrupt nor ErrUnknownKey", err)
			}
			if strings.Contains(err.Error(), "plaintext") {
				t.Fatalf("Open error %q contains a plaintext", err)
			}
			return
		}
		want, ok := valid[string(ciphertext)]
		if !ok {
			t.Fatalf("Open accepted a ciphertext Seal did not make: %x", ciphertext)
		}
		if want.ad != string(ad) || want.plaintext != string(p) {
			t.Fatalf("Open = %q with ad %q; sealed %q with ad %q", p, ad, want.plaintext, want.ad)
		}
	})
}

// ParseKeyRing never panics, never echoes key material in errors, and what
// it accepts encodes and parses back to the same ring.
func FuzzParseKeyRing(f *testing.F) {
	k1, k2 := testKey("k1", 1), testKey("k-2_B", 0xfb)
	for _, s := range []string{
		k1.Encode(),
		k1.Encode() + ",\n" + k2.Encode(),
		"# comment\n" + k2.Encode() + "\n",
		"k1:" + k1.Encode()[3:40],
		k1.Encode()[3:],
		k1.Encode() + "," + k1.Encode(),
		"k1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
		"",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := ParseKeyRing(s)
		if err != nil {
			msg := err.Error()
			for _, m := range materials(s) {
				if strings.Contains(msg, m) {
					t.Fatalf("error %q echoes key material %q", msg, m)
				}
			}
			return
		}
		again, err := ParseKeyRing(r.Encode())
		if err != nil {
			t.Fatalf("ParseKeyRing(Encode()) failed: %v", err)
		}
		if again.Encode() != r.Encode() || len(r.KeyIDs()) != len(splitEntries(s)) {
			t.Fatalf("Encode round trip changed the ring")
		}
	})
}

// materials returns the parts of a key ring string that may be key
// material and must not appear in an error: the text after the first ':' of
// each entry, a whole entry without ':', and an id part that is not a valid
// id; each when it is at least 16 characters without whitespace and not part
// of a valid id (valid ids may be quoted in errors).
func materials(s string) []string {
	var ids, candidates []string
	for _, e := range strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == '\n' }) {
		id, m, ok := strings.Cut(strings.TrimSpace(e), ":")
		if !ok {
			id, m = "", id
		}
		id, m = strings.TrimSpace(id), strings.TrimSpace(m)
		if validID(id) {
			ids = append(ids, id)
		} else {
			candidates = append(candidates, id)
		}
		candidates = append(candidates, m)
	}
	var out []string
	for _, m := range candidates {
		if len(m) >= 16 && !strings.ContainsFunc(m, unicode.IsSpace) && !strings.Contains(strings.Join(ids, "\n"), m) {
			out = append(out, m)
		}
	}
	return out
}
