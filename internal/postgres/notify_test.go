package postgres

import (
	"testing"

	"github.com/tokenkeeper/tokenkeeper/internal/storetest"
	"github.com/tokenkeeper/tokenkeeper/internal/testenv"
)

// TestNotificationConformance runs the notification store suite; every store
// it opens is migrated on a schema of its own.
func TestNotificationConformance(t *testing.T) {
	t.Parallel()
	testenv.PostgresURL(t) // skip once, not in every subtest, without a server
	storetest.RunNotifications(t, func(t *testing.T) storetest.NotificationTestStore { return setup(t) })
}
