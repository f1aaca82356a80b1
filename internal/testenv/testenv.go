// Package testenv decides what a test does when a part it needs (PostgreSQL,
// a browser, Node) is missing: skip on a developer's laptop, fail in CI.
//
// TOKENKEEPER_TEST_REQUIRE lists the parts that must be present, separated by
// commas ("postgres,browser,node"); .ci/run sets it so that nothing CI must
// run is skipped silently.
package testenv

import (
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// The parts a test may need.
const (
	Postgres = "postgres" // a PostgreSQL server at TOKENKEEPER_TEST_POSTGRES_URL
	Browser  = "browser"  // Chromium for chromedp
	Node     = "node"     // Node.js and npm for oidc-provider
)

// Required reports whether part is listed in TOKENKEEPER_TEST_REQUIRE.
func Required(part string) bool {
	return slices.Contains(strings.Split(os.Getenv("TOKENKEEPER_TEST_REQUIRE"), ","), part)
}

// Missing ends the test because part is not available: it fails when part is
// required, and skips otherwise.
func Missing(t testing.TB, part, why string) {
	t.Helper()
	if Required(part) {
		t.Fatalf("%s is required (TOKENKEEPER_TEST_REQUIRE) but not available: %s", part, why)
	}
	t.Skipf("%s not available: %s", part, why)
}

// PostgresURL returns TOKENKEEPER_TEST_POSTGRES_URL, or ends the test through
// Missing when it is not set.
func PostgresURL(t testing.TB) string {
	t.Helper()
	u := os.Getenv("TOKENKEEPER_TEST_POSTGRES_URL")
	if u == "" {
		Missing(t, Postgres, "TOKENKEEPER_TEST_POSTGRES_URL is not set")
	}
	return u
}

// LookPath returns the path of an executable, or ends the test through
// Missing(part) when it is not installed.
func LookPath(t testing.TB, part, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		Missing(t, part, name+" is not installed")
	}
	return p
}
