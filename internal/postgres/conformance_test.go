package postgres

import (
	"testing"

	"github.com/tokenkeeper/tokenkeeper"
	"github.com/tokenkeeper/tokenkeeper/internal/storetest"
	"github.com/tokenkeeper/tokenkeeper/internal/testenv"
)

// TestConformance runs the store conformance suite; every store it opens
// is migrated on a schema of its own.
func TestConformance(t *testing.T) {
	t.Parallel()
	testenv.PostgresURL(t) // skip once, not in every subtest, without a server
	storetest.Run(t, func(t *testing.T) tokenkeeper.Store { return setup(t) })
}
