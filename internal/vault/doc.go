// Package vault seals secrets with AES-256-GCM under a ring of named keys.
//
// A Ring holds one or more 256-bit keys. The first key (the primary) seals;
// every key of the ring opens. Rotation is therefore: put a new key first,
// keep the old ones after it, re-seal what NeedsReseal reports (tokenkeeper
// keys rotate), then drop the old keys.
//
// # Key ring format
//
// The value of TOKENKEEPER_ENCRYPTION_KEYS and the content of the key file
// are entries of the form ID:BASE64, separated by commas or newlines:
//
//	k3f2a9c01:qmJ1Z3…=,k0b7e44d2:Q0x4…
//
// ID is 1 to 32 characters of A-Z a-z 0-9 _ and -. BASE64 is standard or
// URL-safe base64, padded or not, of exactly 32 bytes. Whitespace around
// entries is ignored, and so is a line whose first non-blank character is
// '#'. Parse errors name the entry's position and, when it is valid, its id,
// never key material.
//
// # Ciphertext format (version 1)
//
//	version (1 byte, = 1) | id length (1 byte) | key id | nonce (12 bytes) | GCM ciphertext and tag (16 bytes)
//
// The GCM additional data is the header (version, id length, key id)
// followed by the caller's additional data (tokenkeeper.AdditionalData), so
// neither the key id nor the row and field a ciphertext belongs to can be
// changed without Open failing.
//
// # Derived keys
//
// Derive and DeriveAll give 32-byte subkeys for other purposes (signing
// reconnect links, keyed hashing of user ids) by HKDF-SHA256 with no salt,
// the key material as secret and the purpose string as info.
package vault
