package vault

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"testing"
)

func TestLoadOrCreateKeyFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "keys")

	first, created, err := LoadOrCreateKeyFile(path)
	if err != nil || !created {
		t.Fatalf("first call: created=%v err=%v, want created", created, err)
	}
	mode, err := KeyFileMode(path)
	if err != nil || mode != 0o600 {
		t.Errorf("KeyFileMode = %v, %v; want 0600", mode, err)
	}
	second, created, err := LoadOrCreateKeyFile(path)
	if err != nil || created {
		t.Fatalf("second call: created=%v err=%v, want the existing file", created, err)
	}
	if first.Encode() != second.Encode() {
		t.Errorf("second call returned another key")
	}
	c := mustSeal(t, first, []byte("token"), nil)
	if p, err := second.Open(c, nil); err != nil || string(p) != "token" {
		t.Errorf("reloaded ring cannot open: %v", err)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("directory holds %d entries, want only the key file (temporary file left?)", len(entries))
	}
}

func TestLoadOrCreateKeyFileExisting(t *testing.T) {
	t.Parallel()
	k1, k2 := testKey("k1", 1), testKey("k2", 2)
	tests := []struct {
		name    string
		content string
		mode    fs.FileMode
		wantErr bool
	}{
		{"hand written, two keys", "# mine\n" + k2.Encode() + ",\n" + k1.Encode() + "\n", 0o600, false},
		{"readable by others is loaded", k1.Encode(), 0o644, false},
		{"malformed", "k1:nope", 0o600, true},
		{"empty", "", 0o600, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(t.TempDir(), "keys")
			if err := os.WriteFile(path, []byte(tt.content), tt.mode); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(path, tt.mode); err != nil { // despite the umask
				t.Fatal(err)
			}
			r, created, err := LoadOrCreateKeyFile(path)
			if created {
				t.Errorf("created = true for an existing file")
			}
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, want error: %v", err, tt.wantErr)
			}
			if after, _ := os.ReadFile(path); string(after) != tt.content {
				t.Errorf("existing file was changed")
			}
			if mode, _ := KeyFileMode(path); mode != tt.mode {
				t.Errorf("KeyFileMode = %v, want %v", mode, tt.mode)
			}
			if err == nil && r.Encode() != mustParse(t, tt.content).Encode() {
				t.Errorf("loaded ring differs from the file")
			}
		})
	}
}

func TestLoadOrCreateKeyFileMissingDirectory(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "absent")
	_, created, err := LoadOrCreateKeyFile(filepath.Join(dir, "keys"))
	if err == nil || created {
		t.Fatalf("created=%v err=%v, want an error", created, err)
	}
	if _, err := os.Stat(dir); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("directory was created")
	}
	if _, err := KeyFileMode(filepath.Join(dir, "keys")); err == nil {
		t.Errorf("KeyFileMode of a missing file succeeded")
	}
}

// Processes starting together must agree on one key: exactly one creates
// the file and every caller gets its key.
func TestLoadOrCreateKeyFileConcurrent(t *testing.T) {
	t.Parallel()
	for range 10 {
		path := filepath.Join(t.TempDir(), "keys")
		const n = 8
		var wg sync.WaitGroup
		rings := make([]*Ring, n)
		createdCount := make([]bool, n)
		errs := make([]error, n)
		for i := range n {
			wg.Go(func() { rings[i], createdCount[i], errs[i] = LoadOrCreateKeyFile(path) })
		}
		wg.Wait()
		creators := 0
		for i := range n {
			if errs[i] != nil {
				t.Fatalf("caller %d: %v", i, errs[i])
			}
			if createdCount[i] {
				creators++
			}
			if rings[i].Encode() != rings[0].Encode() {
				t.Fatalf("callers got different keys")
			}
		}
		if creators != 1 {
			t.Fatalf("%d callers report created, want 1", creators)
		}
	}
}

func mustParse(t *testing.T, s string) *Ring {
	t.Helper()
	r, err := ParseKeyRing(s)
	if err != nil {
		t.Fatal(err)
	}
	return r
}
