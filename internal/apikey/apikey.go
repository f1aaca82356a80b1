// Package apikey issues and checks the API keys that applications present to
// tokenkeeper's HTTP API. A key is "tk_" followed by 32 random bytes in
// unpadded base64url; only its SHA-256 hash is stored.
package apikey

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/tokenkeeper/tokenkeeper"
)

// Prefix starts every API key.
const Prefix = "tk_"

// keyBytes is the number of random bytes in a key.
const keyBytes = 32

// keyLen is the length of a well-formed key: the prefix and 32 bytes in
// unpadded base64url (43 characters).
var keyLen = len(Prefix) + base64.RawURLEncoding.EncodedLen(keyBytes)

// maxNameLen bounds a key's name.
const maxNameLen = 200

// Generate returns a new API key: its plaintext, to be shown to the operator
// once, and the APIKey to store (ID "key_…", the hash of the plaintext, the
// scopes, CreatedAt now). It fails with INVALID_REQUEST when scopes is empty
// or holds an unknown scope, or when name is longer than 200 bytes, is not
// valid UTF-8 or holds control characters.
func Generate(name string, scopes []tokenkeeper.Scope, now time.Time) (tokenkeeper.Secret, *tokenkeeper.APIKey, error) {
	if err := checkName(name); err != nil {
		return "", nil, err
	}
	scopes, err := checkScopes(scopes)
	if err != nil {
		return "", nil, err
	}
	var b [keyBytes]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", nil, fmt.Errorf("generate api key: %w", err)
	}
	plaintext := Prefix + base64.RawURLEncoding.EncodeToString(b[:])
	k := &tokenkeeper.APIKey{
		ID:        tokenkeeper.NewID("key_"),
		Name:      name,
		Hash:      Hash(plaintext),
		Scopes:    scopes,
		CreatedAt: now.UTC().Truncate(time.Millisecond),
	}
	return tokenkeeper.Secret(plaintext), k, nil
}

// Hash returns the SHA-256 hash of the full key string, as stored.
func Hash(plaintext string) []byte {
	h := sha256.Sum256([]byte(plaintext))
	return h[:]
}

// ParseScopes parses a comma-separated list of scopes ("admin,tokens:read").
// Spaces around names are ignored and duplicates are dropped. It fails with
// INVALID_REQUEST when the list is empty or names an unknown scope.
func ParseScopes(csv string) ([]tokenkeeper.Scope, error) {
	var scopes []tokenkeeper.Scope
	for part := range strings.SplitSeq(csv, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		scopes = append(scopes, tokenkeeper.Scope(part))
	}
	return checkScopes(scopes)
}

// Authenticate returns the stored, unrevoked key whose hash matches the
// presented key. A malformed, unknown or revoked key yields an UNAUTHORIZED
// error that says nothing about which; a failing store yields its error.
func Authenticate(ctx context.Context, store tokenkeeper.Store, presented string) (*tokenkeeper.APIKey, error) {
	if !wellFormed(presented) {
		return nil, errUnauthorized()
	}
	hash := Hash(presented)
	k, err := store.GetAPIKeyByHash(ctx, hash)
	if errors.Is(err, tokenkeeper.ErrNotFound) {
		return nil, errUnauthorized()
	}
	if err != nil {
		return nil, fmt.Errorf("look up api key: %w", err)
	}
	if subtle.ConstantTimeCompare(k.Hash, hash) != 1 || !k.RevokedAt.IsZero() {
		return nil, errUnauthorized()
	}
	return k, nil
}

// errUnauthorized is the one error every rejected key gets.
func errUnauthorized() error {
	return tokenkeeper.Errorf(tokenkeeper.CodeUnauthorized, "invalid API key")
}

// wellFormed reports whether s has the shape of a key this package issues.
func wellFormed(s string) bool {
	if len(s) != keyLen || !strings.HasPrefix(s, Prefix) {
		return false
	}
	for i := len(Prefix); i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '-', c == '_':
		default:
			return false
		}
	}
	return true
}

// checkScopes returns scopes without duplicates, or an error when it is
// empty or holds an unknown scope.
func checkScopes(scopes []tokenkeeper.Scope) ([]tokenkeeper.Scope, error) {
	if len(scopes) == 0 {
		return nil, tokenkeeper.Errorf(tokenkeeper.CodeInvalidRequest, "an API key needs at least one scope (%s)", knownScopes())
	}
	out := make([]tokenkeeper.Scope, 0, len(scopes))
	for _, s := range scopes {
		if !slices.Contains(tokenkeeper.Scopes, s) {
			return nil, tokenkeeper.Errorf(tokenkeeper.CodeInvalidRequest, "unknown scope %q (known: %s)", s, knownScopes())
		}
		if !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out, nil
}

func knownScopes() string {
	names := make([]string, len(tokenkeeper.Scopes))
	for i, s := range tokenkeeper.Scopes {
		names[i] = string(s)
	}
	return strings.Join(names, ", ")
}

// checkName rejects names that would garble a listing.
func checkName(name string) error {
	if len(name) > maxNameLen {
		return tokenkeeper.Errorf(tokenkeeper.CodeInvalidRequest, "API key name is longer than %d bytes", maxNameLen)
	}
	if !utf8.ValidString(name) {
		return tokenkeeper.Errorf(tokenkeeper.CodeInvalidRequest, "API key name is not valid UTF-8")
	}
	for _, r := range name {
		if unicode.IsControl(r) {
			return tokenkeeper.Errorf(tokenkeeper.CodeInvalidRequest, "API key name holds a control character")
		}
	}
	return nil
}
