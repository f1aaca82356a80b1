package vault

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
)

// keyFileHeader starts every key file that LoadOrCreateKeyFile writes.
const keyFileHeader = `# tokenkeeper encryption keys (ID:BASE64, comma or newline separated).
# The first key encrypts; every key decrypts. Keep this file secret and backed
# up: without it the stored tokens cannot be decrypted.
`

// LoadOrCreateKeyFile returns the key ring stored at path. When the file does
// not exist it generates one key, writes it to path with mode 0600 and
// returns created=true, so that the caller can warn loudly that a new key
// was made. The file is written atomically: a temporary file in the same
// directory (created with O_EXCL, synced) is linked into place, which never
// replaces a file another process created meanwhile (that file is loaded
// instead). No directory is created.
//
// An existing file is loaded whatever its mode; callers that want to warn
// about a file readable by others use KeyFileMode.
func LoadOrCreateKeyFile(path string) (ring *Ring, created bool, err error) {
	ring, err = loadKeyFile(path)
	if err == nil || !errors.Is(err, fs.ErrNotExist) {
		return ring, false, err
	}
	k, err := GenerateKey()
	if err != nil {
		return nil, false, fmt.Errorf("create key file %s: %w", path, err)
	}
	ring, err = NewRing(k)
	if err != nil {
		return nil, false, fmt.Errorf("create key file %s: %w", path, err)
	}
	switch err := writeNewFile(path, []byte(keyFileHeader+ring.Encode()+"\n")); {
	case errors.Is(err, fs.ErrExist):
		// Another process created the file first: use its key.
		ring, err = loadKeyFile(path)
		return ring, false, err
	case err != nil:
		return nil, false, fmt.Errorf("create key file %s: %w", path, err)
	}
	return ring, true, nil
}

// KeyFileMode returns the permission bits of the file at path. A key file
// should be 0600 or stricter: mode&0o077 != 0 means group or others may
// read it.
func KeyFileMode(path string) (fs.FileMode, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return 0, fmt.Errorf("stat key file: %w", err)
	}
	return fi.Mode().Perm(), nil
}

func loadKeyFile(path string) (*Ring, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read key file: %w", err)
	}
	ring, err := ParseKeyRing(string(b))
	if err != nil {
		return nil, fmt.Errorf("load key file %s: %w", path, err)
	}
	return ring, nil
}

// writeNewFile writes data to path with mode 0600 unless path exists, in
// which case it returns an error wrapping fs.ErrExist. The data reach the
// disk before the name appears.
func writeNewFile(path string, data []byte) (err error) {
	var suffix [6]byte
	if _, err := rand.Read(suffix[:]); err != nil {
		return err
	}
	dir := filepath.Dir(path)
	tmp := filepath.Join(dir, "."+filepath.Base(path)+".tmp-"+hex.EncodeToString(suffix[:]))
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("create temporary file: %w", err)
	}
	defer os.Remove(tmp) // after the link, only the temporary name goes
	if _, err := f.Write(data); err != nil {
		f.Close()
		return fmt.Errorf("write temporary file: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("sync temporary file: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("close temporary file: %w", err)
	}
	if err := os.Link(tmp, path); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return err
		}
		// Hard links unsupported here: fall back to a rename, which may
		// replace a file created in the meantime.
		if _, serr := os.Lstat(path); serr == nil {
			return fmt.Errorf("link key file: %w", fs.ErrExist)
		}
		if err := os.Rename(tmp, path); err != nil {
			return fmt.Errorf("rename key file: %w", err)
		}
	}
	return syncDir(dir)
}

// syncDir makes a new directory entry durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("open directory: %w", err)
	}
	defer d.Close()
	// Some file systems cannot sync a directory (EINVAL): nothing more to do.
	if err := d.Sync(); err != nil && !errors.Is(err, syscall.EINVAL) {
		return fmt.Errorf("sync directory: %w", err)
	}
	return nil
}
