package sqlite

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"os"
	"path/filepath"
	"testing"

	"github.com/tokenkeeper/tokenkeeper"
	"github.com/tokenkeeper/tokenkeeper/internal/storetest"
)

// testSealer seals with AES-256-GCM, nonce first, the way the vault does.
type testSealer struct{ aead cipher.AEAD }

func newTestSealer(t *testing.T) testSealer {
	t.Helper()
	block, err := aes.NewCipher(storetest.OpaqueBytes(32))
	if err != nil {
		t.Fatal(err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		t.Fatal(err)
	}
	return testSealer{aead}
}

func (s testSealer) seal(t *testing.T, plaintext string, ad []byte) []byte {
	t.Helper()
	nonce := make([]byte, s.aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		t.Fatal(err)
	}
	return s.aead.Seal(nonce, nonce, []byte(plaintext), ad)
}

func (s testSealer) open(t *testing.T, sealed, ad []byte) string {
	t.Helper()
	n := s.aead.NonceSize()
	if len(sealed) < n {
		t.Fatalf("sealed value of %d bytes is too short", len(sealed))
	}
	plain, err := s.aead.Open(nil, sealed[:n], sealed[n:], ad)
	if err != nil {
		t.Fatalf("open sealed value: %v", err)
	}
	return string(plain)
}

// TestSealedValuesStayOpaque stores sealed tokens and a sealed e-mail, reads
// them back byte for byte (they still open), and then checks the database
// files: the ciphertexts are there, the plaintexts nowhere. The store never
// sees a plaintext, so it can neither write one nor alter a ciphertext.
func TestSealedValuesStayOpaque(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "sealed.db")
	ctx := t.Context()
	s, err := Open(ctx, path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	sealer := newTestSealer(t)
	plain := map[tokenkeeper.Field]string{
		tokenkeeper.FieldAccessToken:  "ya29.plaintext-access-token-0123456789",
		tokenkeeper.FieldRefreshToken: "1//plaintext-refresh-token-abcdefghij",
		tokenkeeper.FieldUserEmail:    "plaintext.user@example.com",
	}
	c := storetest.NewConnection(storetest.BaseTime())
	c.SealedAccessToken = sealer.seal(t, plain[tokenkeeper.FieldAccessToken], tokenkeeper.AdditionalData(c.ID, tokenkeeper.FieldAccessToken))
	c.SealedRefreshToken = sealer.seal(t, plain[tokenkeeper.FieldRefreshToken], tokenkeeper.AdditionalData(c.ID, tokenkeeper.FieldRefreshToken))
	u := &tokenkeeper.User{ID: c.UserID, EmailEnabled: true, UpdatedAt: storetest.BaseTime(),
		SealedEmail: sealer.seal(t, plain[tokenkeeper.FieldUserEmail], tokenkeeper.AdditionalData(c.UserID, tokenkeeper.FieldUserEmail))}
	if err := s.CreateConnection(ctx, c, []tokenkeeper.Event{tokenkeeper.NewEvent(tokenkeeper.EventConnected, c, storetest.BaseTime())}); err != nil {
		t.Fatal(err)
	}
	if err := s.PutUser(ctx, u); err != nil {
		t.Fatal(err)
	}

	got, err := s.GetConnection(ctx, c.ID)
	if err != nil {
		t.Fatal(err)
	}
	gotUser, err := s.GetUser(ctx, u.ID)
	if err != nil {
		t.Fatal(err)
	}
	sealed := map[tokenkeeper.Field][2][]byte{
		tokenkeeper.FieldAccessToken:  {c.SealedAccessToken, got.SealedAccessToken},
		tokenkeeper.FieldRefreshToken: {c.SealedRefreshToken, got.SealedRefreshToken},
		tokenkeeper.FieldUserEmail:    {u.SealedEmail, gotUser.SealedEmail},
	}
	for field, pair := range sealed {
		if !bytes.Equal(pair[0], pair[1]) {
			t.Errorf("%s: read back %d bytes that differ from the %d stored", field, len(pair[1]), len(pair[0]))
		}
		row := c.ID
		if field == tokenkeeper.FieldUserEmail {
			row = u.ID
		}
		if p := sealer.open(t, pair[1], tokenkeeper.AdditionalData(row, field)); p != plain[field] {
			t.Errorf("%s: opened value differs from the sealed plaintext", field)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	// Everything the store wrote: the database, and the WAL and shared
	// memory files if any were left.
	var files []byte
	for _, suffix := range []string{"", "-wal", "-shm", "-journal"} {
		b, err := os.ReadFile(path + suffix)
		if err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
		files = append(files, b...)
	}
	for field, pair := range sealed {
		if !bytes.Contains(files, pair[0]) {
			t.Errorf("%s: the ciphertext is not in the database files (is the test reading the right file?)", field)
		}
		if bytes.Contains(files, []byte(plain[field])) {
			t.Errorf("%s: the plaintext is in the database files", field)
		}
	}
}
