package vault

import (
	"encoding/base64"
	"strings"
	"testing"
)

func TestParseKeyRing(t *testing.T) {
	t.Parallel()
	k1, k2 := testKey("k1", 1), testKey("k-2_B", 0xfb) // 0xfb… gives + and / or - and _
	std := base64.StdEncoding.EncodeToString
	tests := []struct {
		name  string
		input string
		want  []Key
	}{
		{"one key", k1.Encode(), []Key{k1}},
		{"standard unpadded", "k1:" + base64.RawStdEncoding.EncodeToString(k1.Material[:]), []Key{k1}},
		{"url padded", "k-2_B:" + base64.URLEncoding.EncodeToString(k2.Material[:]), []Key{k2}},
		{"url unpadded", "k-2_B:" + base64.RawURLEncoding.EncodeToString(k2.Material[:]), []Key{k2}},
		{"two keys, order kept", k2.Encode() + "," + k1.Encode(), []Key{k2, k1}},
		{"spaces around entries and colon", "  k1 : " + std(k1.Material[:]) + " ,\t" + k2.Encode() + "  ", []Key{k1, k2}},
		{"newline separated", k1.Encode() + "\n" + k2.Encode() + "\n", []Key{k1, k2}},
		{"comma and newline", k1.Encode() + ",\r\n" + k2.Encode() + ",\n", []Key{k1, k2}},
		{"comments and blank lines", "# keys\n\n  # old one below\n" + k1.Encode() + "\n# end\n", []Key{k1}},
		{"empty entries skipped", ",," + k1.Encode() + ",,", []Key{k1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r, err := ParseKeyRing(tt.input)
			if err != nil {
				t.Fatalf("ParseKeyRing: %v", err)
			}
			got := r.Keys()
			if len(got) != len(tt.want) {
				t.Fatalf("got %d keys %v, want %v", len(got), got, tt.want)
			}
			for i := range got {
				if got[i] != tt.want[i] {
					t.Errorf("key %d = %v, want %v (material differs or id)", i, got[i], tt.want[i])
				}
			}
			again, err := ParseKeyRing(r.Encode())
			if err != nil || again.Encode() != r.Encode() {
				t.Errorf("Encode round trip: %v", err)
			}
		})
	}
}

func TestParseKeyRingErrors(t *testing.T) {
	t.Parallel()
	k1 := testKey("k1", 1)
	material := base64.StdEncoding.EncodeToString(k1.Material[:]) // must never be echoed
	short := base64.StdEncoding.EncodeToString(k1.Material[:31])
	long := base64.StdEncoding.EncodeToString(append(k1.Material[:], 7))
	zero := base64.StdEncoding.EncodeToString(make([]byte, 32))
	tests := []struct {
		name  string
		input string
		want  string
	}{
		{"empty", "", "no keys"},
		{"only blanks and comments", " \n# k1:" + material + "\n , ", "no keys"},
		{"missing colon", material, "entry 1: missing ':'"},
		{"missing colon second entry", k1.Encode() + "," + material, "entry 2: missing ':'"},
		{"empty id", ":" + material, "entry 1: invalid key id"},
		{"id too long", strings.Repeat("a", 33) + ":" + material, "entry 1: invalid key id"},
		{"id with bad character", "k.1:" + material, "entry 1: invalid key id"},
		{"material as id", material + ":x", "entry 1: invalid key id"},
		{"empty key", "k1:", `entry 1 (id "k1"): missing key`},
		{"bad base64", "k1:" + material[:20] + "!" + material[21:], `entry 1 (id "k1"): key is not valid base64`},
		{"mixed alphabets", "k1:+" + material[1:20] + "_" + material[21:], "not valid base64"},
		{"inner space", "k1:" + material[:20] + " " + material[20:], "not valid base64"},
		{"31 bytes", "k1:" + short, `entry 1 (id "k1"): key is 31 bytes, want 32`},
		{"33 bytes", "k2:" + long, "key is 33 bytes"},
		{"all zeros", "k1:" + zero, "all zeros"},
		{"duplicate id", k1.Encode() + ",k2:" + zero[:1] + material[1:] + "," + k1.Encode(), `key 3: duplicate key id "k1"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r, err := ParseKeyRing(tt.input)
			if err == nil {
				t.Fatalf("ParseKeyRing succeeded with %v, want error containing %q", r, tt.want)
			}
			msg := err.Error()
			if !strings.Contains(msg, tt.want) {
				t.Errorf("error %q, want it to contain %q", msg, tt.want)
			}
			for _, secret := range []string{material, material[:16], material[20:], short, long} {
				if strings.Contains(msg, secret) {
					t.Errorf("error %q echoes key material", msg)
				}
			}
		})
	}
}
