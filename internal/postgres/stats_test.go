package postgres

import (
	"testing"

	"github.com/tokenkeeper/tokenkeeper/internal/storetest"
	"github.com/tokenkeeper/tokenkeeper/internal/testenv"
)

// TestStatsConformance runs the statistics conformance suite; every store
// it opens is migrated on a schema of its own.
func TestStatsConformance(t *testing.T) {
	t.Parallel()
	testenv.PostgresURL(t)
	storetest.RunStats(t, func(t *testing.T) storetest.StatsStore { return setup(t) })
}
