package vault

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"

	"github.com/tokenkeeper/tokenkeeper"
)

var _ tokenkeeper.Sealer = (*Ring)(nil)

// Ring is an ordered set of keys: the first (primary) seals, all open. Make
// one with NewRing, ParseKeyRing or LoadOrCreateKeyFile; the zero Ring has no
// key and its methods fail or panic. A Ring is immutable once made and safe
// for concurrent use. Its String, Format and LogValue methods list key ids
// only (they have value receivers so that printing *r is safe too).
type Ring struct {
	keys   []Key
	aeads  []cipher.AEAD // aeads[i] belongs to keys[i]
	random io.Reader     // nonce source; crypto/rand unless a test sets it
}

// NewRing returns a ring of the given keys, the first being the primary. It
// fails when there is no key, an id is invalid or repeated, or a key's
// material is all zeros. The keys are copied.
func NewRing(keys ...Key) (*Ring, error) {
	return newRing(rand.Reader, keys)
}

func newRing(random io.Reader, keys []Key) (*Ring, error) {
	if len(keys) == 0 {
		return nil, errors.New("make key ring: no keys")
	}
	r := &Ring{
		keys:   make([]Key, len(keys)),
		aeads:  make([]cipher.AEAD, len(keys)),
		random: random,
	}
	seen := make(map[string]int, len(keys))
	for i, k := range keys {
		if err := checkKey(i+1, k); err != nil {
			return nil, fmt.Errorf("make key ring: %w", err)
		}
		if first, dup := seen[k.ID]; dup {
			return nil, fmt.Errorf("make key ring: key %d: duplicate key id %q (also key %d)", i+1, k.ID, first)
		}
		seen[k.ID] = i + 1
		block, err := aes.NewCipher(k.Material[:])
		if err != nil {
			return nil, fmt.Errorf("make key ring: key %d (id %q): %w", i+1, k.ID, err)
		}
		aead, err := cipher.NewGCM(block)
		if err != nil {
			return nil, fmt.Errorf("make key ring: key %d (id %q): %w", i+1, k.ID, err)
		}
		r.keys[i], r.aeads[i] = k, aead
	}
	return r, nil
}

// PrimaryID returns the id of the key that seals.
func (r *Ring) PrimaryID() string { return r.keys[0].ID }

// KeyIDs returns the ids of the ring's keys, primary first.
func (r *Ring) KeyIDs() []string {
	ids := make([]string, len(r.keys))
	for i, k := range r.keys {
		ids[i] = k.ID
	}
	return ids
}

// Keys returns a copy of the ring's keys, primary first. Their material is
// printable only through Key.Encode.
func (r *Ring) Keys() []Key { return append([]Key(nil), r.keys...) }

// Encode returns the ring in the format ParseKeyRing reads: the keys' Encode
// forms joined by commas, primary first. It reveals key material: use it
// only to write a key file.
func (r *Ring) Encode() string {
	parts := make([]string, len(r.keys))
	for i, k := range r.keys {
		parts[i] = k.Encode()
	}
	return strings.Join(parts, ",")
}

// Derive returns a 32-byte subkey of the primary key for purpose (such as
// "reconnect-link" or "user-id-hash"): HKDF-SHA256 with no salt and purpose
// as info. Different purposes give independent keys; the same purpose and
// primary key always give the same subkey.
func (r *Ring) Derive(purpose string) []byte { return derive(r.keys[0], purpose) }

// DeriveAll returns Derive(purpose) for every key of the ring, primary first,
// so that values made with an older key (such as signed links) still verify
// during a rotation.
func (r *Ring) DeriveAll(purpose string) [][]byte {
	out := make([][]byte, len(r.keys))
	for i, k := range r.keys {
		out[i] = derive(k, purpose)
	}
	return out
}

func derive(k Key, purpose string) []byte {
	sub, err := hkdf.Key(sha256.New, k.Material[:], nil, purpose, KeySize)
	if err != nil {
		// Only an out-of-range length fails, and KeySize is in range.
		panic("vault: derive subkey: " + err.Error())
	}
	return sub
}

// String returns "vault.Ring{primary=ID keys=ID,ID}" without key material.
func (r Ring) String() string {
	return "vault.Ring{primary=" + r.primaryOrNone() + " keys=" + strings.Join(r.KeyIDs(), ",") + "}"
}

// Format implements fmt.Formatter so that no verb prints key material.
func (r Ring) Format(f fmt.State, _ rune) { io.WriteString(f, r.String()) }

// LogValue implements slog.LogValuer: the key ids only.
func (r Ring) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("primary", r.primaryOrNone()),
		slog.Any("keys", r.KeyIDs()),
	)
}

func (r Ring) primaryOrNone() string {
	if len(r.keys) == 0 {
		return ""
	}
	return r.keys[0].ID
}

// indexBytes returns the position of the key with the given id, or -1. The
// id is read from a ciphertext; the comparison does not allocate.
func (r *Ring) indexBytes(id []byte) int {
	for i, k := range r.keys {
		if k.ID == string(id) {
			return i
		}
	}
	return -1
}
