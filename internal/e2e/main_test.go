package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
	"time"
)

// buildDir is the temporary directory TestMain creates for the binary.
var buildDir string

// TestMain makes the directory the tokenkeeper binary is built into, once
// per test binary, and removes it after the tests.
func TestMain(m *testing.M) {
	os.Exit(runTests(m))
}

func runTests(m *testing.M) int {
	dir, err := os.MkdirTemp("", "tokenkeeper-e2e-")
	if err != nil {
		fmt.Fprintf(os.Stderr, "e2e: make build directory: %v\n", err)
		return 1
	}
	defer os.RemoveAll(dir)
	buildDir = dir
	return m.Run()
}

var (
	buildOnce sync.Once
	builtPath string
	buildErr  error
)

// tokenkeeperBinary returns the path of the tokenkeeper binary, building it
// on first use (tests that skip never pay for the build). With
// TOKENKEEPER_E2E_RACE=1 it is built with the race detector;
// TOKENKEEPER_E2E_BINARY names a binary to test instead of building one.
func tokenkeeperBinary(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		if p := os.Getenv("TOKENKEEPER_E2E_BINARY"); p != "" {
			builtPath = p
			return
		}
		start := time.Now()
		goCmd, err := exec.LookPath("go")
		if err != nil {
			goCmd = filepath.Join(runtime.GOROOT(), "bin", "go")
		}
		out := filepath.Join(buildDir, "tokenkeeper")
		args := []string{"build", "-o", out}
		if os.Getenv("TOKENKEEPER_E2E_RACE") == "1" {
			args = append(args, "-race")
		}
		args = append(args, "github.com/tokenkeeper/tokenkeeper/cmd/tokenkeeper")
		cmd := exec.Command(goCmd, args...)
		if b, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, b)
			return
		}
		builtPath = out
		t.Logf("e2e: built tokenkeeper in %v", time.Since(start).Round(time.Millisecond))
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return builtPath
}
