package vault

import (
	"os"
	"path/filepath"
	"testing"
)

func TestFileRingFollowsRotation(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "tokenkeeper.key")
	if _, _, err := OpenFileRing(path, false); err == nil {
		t.Fatal("a missing key file opened without create")
	}
	fr, created, err := OpenFileRing(path, true)
	if err != nil || !created {
		t.Fatalf("create: %v %v", created, err)
	}
	ad := []byte("row/field")
	old, err := fr.Seal([]byte("secret"), ad)
	if err != nil {
		t.Fatal(err)
	}
	oldID := fr.Ring().PrimaryID()

	// Another process rotates: a new primary key first, the old one kept.
	k, err := GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	rotated, err := NewRing(append([]Key{k}, fr.Ring().Keys()...)...)
	if err != nil {
		t.Fatal(err)
	}
	if err := WriteKeyFile(path, rotated); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode %v, %v", fi.Mode(), err)
	}
	fresh, err := rotated.Seal([]byte("new"), ad)
	if err != nil {
		t.Fatal(err)
	}
	// A value sealed with the new key opens at once: the file is reread.
	if p, err := fr.Open(fresh, ad); err != nil || string(p) != "new" {
		t.Fatalf("open a value sealed with the new key: %q %v", p, err)
	}
	if p, err := fr.Open(old, ad); err != nil || string(p) != "secret" {
		t.Fatalf("open an old value: %q %v", p, err)
	}
	fr.recheck = 0
	sealed, err := fr.Seal([]byte("x"), ad)
	if err != nil {
		t.Fatal(err)
	}
	if id, _ := KeyIDOf(sealed); id != k.ID || id == oldID {
		t.Fatalf("sealed with %s, want the new primary %s", id, k.ID)
	}
}
