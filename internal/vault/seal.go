package vault

import (
	"errors"
	"fmt"
	"io"

	"github.com/tokenkeeper/tokenkeeper"
)

// Version is the ciphertext format version that Seal writes.
const Version = 1

const (
	nonceSize = 12
	tagSize   = 16
)

// Errors returned by Open and KeyIDOf, wrapped with the key id when it is
// known; compare with errors.Is. Their messages never contain plaintext,
// ciphertext or key material.
var (
	// ErrUnknownKey: the ciphertext names a key that is not in the ring.
	// It is tokenkeeper.ErrUnknownKey, so callers need not import this package.
	ErrUnknownKey = tokenkeeper.ErrUnknownKey
	// ErrCorrupt: the ciphertext is malformed, was altered, or was sealed
	// with different additional data (another row or field).
	ErrCorrupt = errors.New("sealed value is corrupt or belongs to other data")
)

// Seal encrypts plaintext with the primary key, binding it to additionalData
// (use tokenkeeper.AdditionalData(rowID, field)). Each call uses a fresh
// random nonce. The result is in the version 1 format described in the
// package documentation; it is 2 + len(PrimaryID()) + 28 bytes longer than
// plaintext.
func (r *Ring) Seal(plaintext, additionalData []byte) ([]byte, error) {
	if len(r.keys) == 0 {
		return nil, errors.New("seal: empty key ring")
	}
	id := r.keys[0].ID
	hdr := 2 + len(id)
	out := make([]byte, hdr+nonceSize, hdr+nonceSize+len(plaintext)+tagSize)
	out[0] = Version
	out[1] = byte(len(id))
	copy(out[2:], id)
	nonce := out[hdr : hdr+nonceSize]
	if _, err := io.ReadFull(r.random, nonce); err != nil {
		return nil, fmt.Errorf("seal: read nonce: %w", err)
	}
	aad := make([]byte, 0, hdr+len(additionalData))
	aad = append(append(aad, out[:hdr]...), additionalData...)
	return r.aeads[0].Seal(out, nonce, plaintext, aad), nil
}

// Open decrypts a ciphertext that Seal made with any key of the ring and the
// same additionalData. It fails with an error wrapping ErrUnknownKey when the
// key is not in the ring, and ErrCorrupt when the ciphertext is malformed or
// altered, or additionalData differ. Errors name the key id and nothing else.
func (r *Ring) Open(ciphertext, additionalData []byte) ([]byte, error) {
	id, hdr, err := parseHeader(ciphertext)
	if err != nil {
		return nil, fmt.Errorf("open: %w", err)
	}
	i := r.indexBytes(id)
	if i < 0 {
		return nil, fmt.Errorf("open: key %q: %w", id, ErrUnknownKey)
	}
	if len(ciphertext) < hdr+nonceSize+tagSize {
		return nil, fmt.Errorf("open: key %q: %w (too short)", id, ErrCorrupt)
	}
	aad := make([]byte, 0, hdr+len(additionalData))
	aad = append(append(aad, ciphertext[:hdr]...), additionalData...)
	nonce := ciphertext[hdr : hdr+nonceSize]
	plaintext, err := r.aeads[i].Open(nil, nonce, ciphertext[hdr+nonceSize:], aad)
	if err != nil {
		return nil, fmt.Errorf("open: key %q: %w", id, ErrCorrupt)
	}
	return plaintext, nil
}

// KeyIDOf returns the id of the key that sealed ciphertext, read from its
// header without decrypting. It fails with ErrCorrupt when the header is
// malformed or of an unknown version. A well-formed header does not prove the
// ciphertext opens.
func KeyIDOf(ciphertext []byte) (string, error) {
	id, _, err := parseHeader(ciphertext)
	if err != nil {
		return "", fmt.Errorf("read key id: %w", err)
	}
	return string(id), nil
}

// NeedsReseal reports whether ciphertext should be sealed again with the
// primary key: true when its header names another key, is unreadable or is
// of an older version (opening it then reports why), and false for the
// primary key and for an empty ciphertext (an absent value).
func (r *Ring) NeedsReseal(ciphertext []byte) bool {
	if len(ciphertext) == 0 {
		return false
	}
	id, _, err := parseHeader(ciphertext)
	return err != nil || string(id) != r.PrimaryID()
}

// parseHeader returns the key id of a version 1 ciphertext (a subslice of
// c) and the header length. The id is returned only when it is well-formed,
// so that errors may quote it.
func parseHeader(c []byte) (id []byte, n int, err error) {
	switch {
	case len(c) < 2:
		return nil, 0, fmt.Errorf("%w (too short)", ErrCorrupt)
	case c[0] != Version:
		return nil, 0, fmt.Errorf("%w (unknown version %d)", ErrCorrupt, c[0])
	}
	n = 2 + int(c[1])
	if len(c) < n {
		return nil, 0, fmt.Errorf("%w (too short)", ErrCorrupt)
	}
	id = c[2:n]
	if !validID(string(id)) {
		return nil, 0, fmt.Errorf("%w (invalid key id)", ErrCorrupt)
	}
	return id, n, nil
}
