package oidctest

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/tokenkeeper/tokenkeeper/internal/testenv"
)

// installMu serialises the npm install check within one test binary; lockFile
// does the same across the test binaries that `go test ./...` runs at once.
var installMu sync.Mutex

// serverDir returns testdata/oidcprovider under the module root, found by
// walking up from the working directory to the first go.mod.
func serverDir(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatalf("oidctest: get working directory: %v", err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return filepath.Join(dir, "testdata", "oidcprovider")
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatalf("oidctest: no go.mod above the working directory")
		}
		dir = parent
	}
}

// ensureDeps makes sure dir/node_modules holds what dir/package-lock.json
// pins, running `npm ci` when it is missing or older than the lock file.
// When npm is missing or fails, the test ends through testenv.Missing.
func ensureDeps(t testing.TB, dir string) {
	t.Helper()
	if installed(dir) {
		return
	}
	installMu.Lock()
	defer installMu.Unlock()

	sum := sha256.Sum256([]byte(dir))
	unlock, err := lockFile(filepath.Join(os.TempDir(), "tokenkeeper-oidcprovider-"+hex.EncodeToString(sum[:8])+".lock"))
	if err != nil {
		t.Fatalf("oidctest: lock npm install: %v", err)
	}
	defer unlock()
	if installed(dir) { // another test binary installed it while we waited
		return
	}
	npm := testenv.LookPath(t, testenv.Node, "npm")
	start := time.Now()
	cmd := exec.CommandContext(t.Context(), npm, "ci", "--no-audit", "--no-fund")
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		testenv.Missing(t, testenv.Node, fmt.Sprintf("npm ci in %s: %v\n%s", dir, err, tail(out, 2000)))
	}
	t.Logf("oidctest: npm ci in %s took %v", dir, time.Since(start).Round(time.Millisecond))
}

// installed reports whether npm finished installing dir's lock file: npm
// writes node_modules/.package-lock.json last, so an interrupted install
// or a newer package-lock.json reads as not installed.
func installed(dir string) bool {
	done, err := os.Stat(filepath.Join(dir, "node_modules", ".package-lock.json"))
	if err != nil {
		return false
	}
	lock, err := os.Stat(filepath.Join(dir, "package-lock.json"))
	if err != nil {
		return false
	}
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "oidc-provider", "package.json")); err != nil {
		return false
	}
	return !lock.ModTime().After(done.ModTime())
}

// tail returns at most the last n bytes of b, as text.
func tail(b []byte, n int) string {
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return string(b)
}
