package sqlite

import (
	"strings"
	"testing"
)

// TestPurgePlans: every purge statement finds its rows through an index
// searched by time (INDEXED BY makes it fail otherwise) and reaches the
// rows to delete by rowid, and the oldest attempt is read from the end of
// an index: no statement of a purge scans a table.
func TestPurgePlans(t *testing.T) {
	t.Parallel()
	s := setup(t)
	for name, q := range map[string]string{
		"attempts":      purgeAttemptsQuery,
		"events":        purgeEventsQuery,
		"deliveries":    purgeDeliveriesQuery,
		"notifications": purgeNotificationsQuery,
		"first attempt": firstAttemptQuery,
	} {
		args := []any{int64(1), 10}
		if q == firstAttemptQuery {
			args = nil
		}
		plan := queryPlan(t, s, q, args...)
		text := strings.Join(plan, "\n")
		if !strings.Contains(text, "USING INDEX") && !strings.Contains(text, "USING COVERING INDEX") {
			t.Errorf("%s: plan uses no index:\n%s", name, text)
		}
		for _, line := range plan {
			if strings.HasPrefix(line, "SCAN") || strings.Contains(line, "TEMP B-TREE") {
				t.Errorf("%s: plan scans or sorts (%q):\n%s", name, line, text)
			}
		}
	}
}
