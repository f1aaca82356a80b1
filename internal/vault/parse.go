package vault

import (
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
)

// ParseKeyRing reads a key ring in the format described in the package
// documentation: entries ID:BASE64 separated by commas or newlines, the first
// being the primary key. Blank entries and comment lines (first non-blank
// character '#') are skipped. It fails when there is no entry, an entry is
// malformed, a key is not 32 bytes or is all zeros, or an id repeats. Errors
// name the entry's 1-based position and its id when the id is valid; they
// never contain key material.
func ParseKeyRing(s string) (*Ring, error) {
	entries := splitEntries(s)
	if len(entries) == 0 {
		return nil, errors.New("parse key ring: no keys (want ID:BASE64 entries separated by commas)")
	}
	keys := make([]Key, 0, len(entries))
	for i, e := range entries {
		k, err := parseEntry(i+1, e)
		if err != nil {
			return nil, fmt.Errorf("parse key ring: %w", err)
		}
		keys = append(keys, k)
	}
	r, err := NewRing(keys...)
	if err != nil {
		return nil, fmt.Errorf("parse key ring: %w", err)
	}
	return r, nil
}

// splitEntries returns the non-blank entries of s, skipping comment lines.
func splitEntries(s string) []string {
	var entries []string
	for line := range strings.Lines(s) {
		if strings.HasPrefix(strings.TrimSpace(line), "#") {
			continue
		}
		for e := range strings.SplitSeq(line, ",") {
			if e = strings.TrimSpace(e); e != "" {
				entries = append(entries, e)
			}
		}
	}
	return entries
}

// parseEntry parses one "ID:BASE64" entry at 1-based position pos.
func parseEntry(pos int, e string) (Key, error) {
	id, b64, ok := strings.Cut(e, ":")
	if !ok {
		return Key{}, fmt.Errorf("entry %d: missing ':' (want ID:BASE64)", pos)
	}
	id, b64 = strings.TrimSpace(id), strings.TrimSpace(b64)
	if !validID(id) {
		return Key{}, fmt.Errorf("entry %d: invalid key id (want 1-%d characters of A-Z a-z 0-9 _ -)", pos, MaxIDLen)
	}
	if b64 == "" {
		return Key{}, fmt.Errorf("entry %d (id %q): missing key after ':'", pos, id)
	}
	material, ok := decodeBase64(b64)
	if !ok {
		return Key{}, fmt.Errorf("entry %d (id %q): key is not valid base64", pos, id)
	}
	if len(material) != KeySize {
		return Key{}, fmt.Errorf("entry %d (id %q): key is %d bytes, want %d", pos, id, len(material), KeySize)
	}
	k := Key{ID: id}
	copy(k.Material[:], material)
	return k, nil
}

// decodeBase64 decodes standard or URL-safe base64, padded or not.
func decodeBase64(s string) ([]byte, bool) {
	enc := base64.StdEncoding
	if strings.ContainsAny(s, "-_") {
		enc = base64.URLEncoding
	}
	if !strings.HasSuffix(s, "=") {
		enc = enc.WithPadding(base64.NoPadding)
	}
	b, err := enc.Strict().DecodeString(s)
	return b, err == nil
}
