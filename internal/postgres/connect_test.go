package postgres

import (
	"testing"

	"github.com/tokenkeeper/tokenkeeper/internal/storetest"
	"github.com/tokenkeeper/tokenkeeper/internal/testenv"
)

// TestConnectConformance runs the connect-flow conformance suite; every
// store it opens is migrated on a schema of its own, with a small pool so
// that the parallel subtests stay within the server's connection limit.
func TestConnectConformance(t *testing.T) {
	t.Parallel()
	testenv.PostgresURL(t)
	storetest.RunConnect(t, func(t *testing.T) storetest.ConnectStore {
		s := open(t, newSchema(t), Options{MaxConns: 3})
		if err := s.Migrate(t.Context()); err != nil {
			t.Fatalf("Migrate: %v", err)
		}
		return s
	})
}
