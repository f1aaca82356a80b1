// Package e2e holds tokenkeeper's multi-process end-to-end tests: several
// `tokenkeeper serve` processes built from cmd/tokenkeeper, sharing one
// PostgreSQL schema, refreshing against a real authorization server
// (internal/oidctest) while callers read tokens, with processes killed
// (SIGKILL) and restarted mid-run. The tests prove that every connection is
// refreshed exactly once per rotation whatever the number of replicas and
// crashes.
//
// Everything is in the _test.go files: the process harness (TestMain builds
// the binary once per test binary), the API and database helpers, and the
// tests. They need PostgreSQL (TOKENKEEPER_TEST_POSTGRES_URL) and Node; they
// skip without them unless CI requires them (internal/testenv).
//
// TOKENKEEPER_E2E_BENCH=1 also runs the refresh throughput benchmark, which
// CI does not; TOKENKEEPER_E2E_RACE=1 builds the binary with -race, and
// TOKENKEEPER_E2E_BINARY=/path tests that binary instead of building one.
package e2e
