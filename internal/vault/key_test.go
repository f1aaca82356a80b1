package vault

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"regexp"
	"strings"
	"testing"
)

func TestGenerateKey(t *testing.T) {
	t.Parallel()
	a, err := GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	b, err := GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`^k[0-9a-f]{8}$`).MatchString(a.ID) {
		t.Errorf("id %q, want k + 8 lowercase hex digits", a.ID)
	}
	if a.ID == b.ID || a.Material == b.Material {
		t.Errorf("two generated keys share id or material")
	}
	r, err := ParseKeyRing(a.Encode())
	if err != nil {
		t.Fatalf("ParseKeyRing(Encode()): %v", err)
	}
	if got := r.Keys()[0]; got != a {
		t.Errorf("Encode round trip changed the key")
	}
}

func TestNewRingErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		keys []Key
		want string
	}{
		{"no keys", nil, "no keys"},
		{"invalid id", []Key{testKey("bad id", 1)}, "key 1: invalid key id"},
		{"zero material", []Key{testKey("k1", 1), {ID: "k2"}}, `key 2 (id "k2"): key material is all zeros`},
		{"duplicate id", []Key{testKey("k1", 1), testKey("k1", 2)}, `key 2: duplicate key id "k1"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := NewRing(tt.keys...)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("NewRing err = %v, want it to contain %q", err, tt.want)
			}
		})
	}
}

// Neither a Key nor a Ring prints its material, whatever the verb or encoder.
func TestKeyAndRingRedacted(t *testing.T) {
	t.Parallel()
	k := testKey("k1", 0xa0)
	r := setup(t, k, testKey("k2", 0x10))
	m := k.Material
	forbidden := []string{
		hex.EncodeToString(m[:]),
		base64.StdEncoding.EncodeToString(m[:]),
		base64.RawURLEncoding.EncodeToString(m[:]),
		fmt.Sprint(m), // [160 161 …]
		fmt.Sprintf("%x", m[:4]),
		string(m[:4]),
	}
	var logs bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&logs, nil))
	log.Info("key", "key", k, "ring", r, "ringv", *r)
	jsonKey, _ := json.Marshal(k)
	jsonKeys, _ := json.Marshal(map[string]any{"keys": r.Keys()})
	outputs := map[string]string{"slog": logs.String(), "json": string(jsonKey), "json slice": string(jsonKeys)}
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%d", "%x", "%X", "%q", "%o", "%b"} {
		outputs["key "+verb] = fmt.Sprintf(verb, k)
		outputs["key ptr "+verb] = fmt.Sprintf(verb, &k)
		outputs["keys "+verb] = fmt.Sprintf(verb, r.Keys())
		outputs["ring "+verb] = fmt.Sprintf(verb, r)
		outputs["ring value "+verb] = fmt.Sprintf(verb, *r)
	}
	for name, out := range outputs {
		for _, f := range forbidden {
			if strings.Contains(out, f) {
				t.Errorf("%s output %q contains key material %q", name, out, f)
			}
		}
		if !strings.Contains(out, "k1") {
			t.Errorf("%s output %q does not name the key id", name, out)
		}
	}
	if !strings.Contains(k.Encode(), base64.StdEncoding.EncodeToString(m[:])) {
		t.Errorf("Encode does not reveal the material")
	}
}

func TestDerive(t *testing.T) {
	t.Parallel()
	primary := testKey("k1", 1) // material 1, 2, …, 32
	r := setup(t, primary, testKey("k0", 100))
	// Known answers computed independently (Python hmac): HKDF-SHA256, no
	// salt, info = purpose, 32 bytes.
	known := map[string]string{
		"reconnect-link": "1f580ae9d49b33bcceb597ff8e805cb7995601df23d24908cfb4fe1202158664",
		"user-id-hash":   "0a0cf178255c0e0db27de024c0ee8491175010ce89d13b8def11f7f70628804f",
	}
	for purpose, want := range known {
		if got := hex.EncodeToString(r.Derive(purpose)); got != want {
			t.Errorf("Derive(%q) = %s, want %s", purpose, got, want)
		}
	}
	all := r.DeriveAll("reconnect-link")
	if len(all) != 2 || !bytes.Equal(all[0], r.Derive("reconnect-link")) {
		t.Fatalf("DeriveAll[0] is not Derive of the primary key")
	}
	older := setup(t, testKey("k0", 100))
	if !bytes.Equal(all[1], older.Derive("reconnect-link")) {
		t.Errorf("DeriveAll[1] is not the older key's subkey")
	}
	if bytes.Equal(all[0], all[1]) || bytes.Equal(all[0], primary.Material[:]) {
		t.Errorf("subkeys are not independent of each other and of the key")
	}
}
