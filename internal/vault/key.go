package vault

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
)

// KeySize is the size of a key's material in bytes (AES-256).
const KeySize = 32

// MaxIDLen is the longest key id allowed.
const MaxIDLen = 32

const redacted = "[REDACTED]"

// Key is one named 256-bit key of a Ring. Its String, GoString, Format,
// LogValue and MarshalText methods print the id and redact the material:
// Encode is the only method that reveals it.
type Key struct {
	// ID names the key inside ciphertexts: 1 to 32 of A-Z a-z 0-9 _ -.
	ID string
	// Material is the AES-256 key. It must not be all zeros.
	Material [KeySize]byte
}

// GenerateKey returns a key with random material and a random id of the form
// "k" followed by 8 lowercase hex digits.
func GenerateKey() (Key, error) {
	return generateKey(rand.Reader)
}

func generateKey(random io.Reader) (Key, error) {
	var buf [4 + KeySize]byte
	if _, err := io.ReadFull(random, buf[:]); err != nil {
		return Key{}, fmt.Errorf("generate key: %w", err)
	}
	k := Key{ID: "k" + hex.EncodeToString(buf[:4])}
	copy(k.Material[:], buf[4:])
	return k, nil
}

// Encode returns the key as "ID:BASE64" (standard padded base64), the form
// ParseKeyRing reads. It is the only way to print a key's material: use it
// only to show a new key to an operator or to write a key file.
func (k Key) Encode() string {
	return k.ID + ":" + base64.StdEncoding.EncodeToString(k.Material[:])
}

// String returns "ID:[REDACTED]".
func (k Key) String() string { return k.ID + ":" + redacted }

// GoString returns the redacted form for %#v.
func (k Key) GoString() string {
	return fmt.Sprintf("vault.Key{ID:%q, Material:%s}", k.ID, redacted)
}

// Format implements fmt.Formatter so that no verb (%d, %x, %v…) prints the
// material.
func (k Key) Format(f fmt.State, verb rune) {
	if verb == 'v' && f.Flag('#') {
		io.WriteString(f, k.GoString())
		return
	}
	io.WriteString(f, k.String())
}

// LogValue implements slog.LogValuer: the id only.
func (k Key) LogValue() slog.Value { return slog.StringValue(k.String()) }

// MarshalText returns the redacted form, so a Key never encodes its material
// as JSON or YAML.
func (k Key) MarshalText() ([]byte, error) { return []byte(k.String()), nil }

// validID reports whether id is 1 to MaxIDLen characters of A-Z a-z 0-9 _ -.
func validID(id string) bool {
	if len(id) == 0 || len(id) > MaxIDLen {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '_', c == '-':
		default:
			return false
		}
	}
	return true
}

// checkKey validates one key for a ring; pos is its 1-based position.
func checkKey(pos int, k Key) error {
	if !validID(k.ID) {
		return fmt.Errorf("key %d: invalid key id (want 1-%d characters of A-Z a-z 0-9 _ -)", pos, MaxIDLen)
	}
	if k.Material == ([KeySize]byte{}) {
		return fmt.Errorf("key %d (id %q): key material is all zeros", pos, k.ID)
	}
	return nil
}
