package vault

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// FileRing is a Sealer over a key file that follows changes to the file:
// after `tokenkeeper keys rotate` writes a new primary key, a running process
// seals with it within a few seconds and opens values sealed with it at once
// (an unknown key id makes it reread the file). It is safe for concurrent use.
type FileRing struct {
	path string
	// recheck is how often Seal looks at the file's modification time.
	recheck time.Duration

	mu      sync.RWMutex
	ring    *Ring
	file    os.FileInfo // the file as last loaded
	checked time.Time
}

// OpenFileRing loads the key file at path (see LoadOrCreateKeyFile, which it
// calls when create is set; otherwise a missing file is an error).
func OpenFileRing(path string, create bool) (fr *FileRing, created bool, err error) {
	var ring *Ring
	if create {
		ring, created, err = LoadOrCreateKeyFile(path)
	} else {
		ring, err = loadKeyFile(path)
	}
	if err != nil {
		return nil, false, err
	}
	fr = &FileRing{path: path, recheck: 2 * time.Second, ring: ring, checked: time.Now()}
	if fi, err := os.Stat(path); err == nil {
		fr.file = fi
	}
	return fr, created, nil
}

// Ring returns the key ring as last loaded.
func (f *FileRing) Ring() *Ring {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.ring
}

// Seal seals with the primary key of the file as of at most a few seconds ago.
func (f *FileRing) Seal(plaintext, additionalData []byte) ([]byte, error) {
	f.mu.RLock()
	stale := time.Since(f.checked) > f.recheck
	f.mu.RUnlock()
	if stale {
		f.reloadIfChanged()
	}
	return f.Ring().Seal(plaintext, additionalData)
}

// Open opens a value sealed with any key of the file, rereading the file
// once when the value names a key it does not know yet.
func (f *FileRing) Open(ciphertext, additionalData []byte) ([]byte, error) {
	p, err := f.Ring().Open(ciphertext, additionalData)
	if errors.Is(err, ErrUnknownKey) && f.reloadIfChanged() {
		return f.Ring().Open(ciphertext, additionalData)
	}
	return p, err
}

// reloadIfChanged rereads the file when it changed (another file renamed
// into place, or a different size or modification time) and reports whether
// a new ring was loaded. A file that no longer parses keeps
// the ring in memory (and is reported by the next `keys` command).
func (f *FileRing) reloadIfChanged() bool {
	fi, err := os.Stat(f.path)
	f.mu.Lock()
	defer f.mu.Unlock()
	f.checked = time.Now()
	if err != nil || (f.file != nil && os.SameFile(f.file, fi) && fi.ModTime().Equal(f.file.ModTime()) && fi.Size() == f.file.Size()) {
		return false
	}
	ring, err := loadKeyFile(f.path)
	if err != nil {
		return false
	}
	f.ring, f.file = ring, fi
	return true
}

// WriteKeyFile replaces the key file at path with ring, atomically (a
// temporary file in the same directory, synced, renamed over the old one),
// with mode 0600.
func WriteKeyFile(path string, ring *Ring) error {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, ".tokenkeeper-key-*")
	if err != nil {
		return fmt.Errorf("write key file: %w", err)
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return fmt.Errorf("write key file: %w", err)
	}
	if _, err := tmp.WriteString(keyFileHeader + ring.Encode() + "\n"); err != nil {
		tmp.Close()
		return fmt.Errorf("write key file: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("write key file: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write key file: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("write key file: %w", err)
	}
	return syncDir(dir)
}
