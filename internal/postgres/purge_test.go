package postgres

import (
	"strings"
	"testing"
	"time"
)

// TestPurgePlans: on tables of some size, with statistics, every purge
// statement finds its batch through the index on its time column and the
// rows to delete through the primary key: no statement of a purge scans a
// table, so a batch costs the same in a table of a million rows as in one
// of a thousand.
func TestPurgePlans(t *testing.T) {
	t.Parallel()
	s := setup(t)
	now := baseTime()
	insertConnections(t, s, 10, 0, now, false)
	ctx := t.Context()
	for _, q := range []string{
		`INSERT INTO refresh_attempts (connection_id, at, trigger, class)
			SELECT 'conn_00000001', $1::timestamptz - g * interval '1 second', 'scheduler', 'success' FROM generate_series(1, 50000) g`,
		`INSERT INTO events (id, type, occurred_at, payload, dispatched_at)
			SELECT 'evt_' || g, 'connection.recovered', $1::timestamptz - g * interval '1 minute', '{}',
				CASE WHEN g % 10 = 0 THEN NULL ELSE $1::timestamptz END FROM generate_series(1, 20000) g`,
		`INSERT INTO deliveries (id, dedup_key, channel, payload, status, created_at, updated_at)
			SELECT 'dlv_' || g, 'evt_' || g || ':webhook', 'webhook', '', CASE WHEN g % 10 = 0 THEN 'pending' ELSE 'delivered' END,
				$1, $1::timestamptz - g * interval '1 minute' FROM generate_series(1, 20000) g`,
		`INSERT INTO notifications (id, event_id, user_id, type, message, created_at)
			SELECT 'ntf_' || g, 'evt_' || g, 'user_1', 'connection.recovered', 'Acme works again.',
				$1::timestamptz - g * interval '1 minute' FROM generate_series(1, 20000) g`,
		`ANALYZE`,
	} {
		args := []any{now}
		if q == `ANALYZE` {
			args = nil
		}
		if _, err := s.pool.Exec(ctx, q, args...); err != nil {
			t.Fatal(err)
		}
	}
	for name, q := range map[string]string{
		"attempts":      purgeAttemptsQuery,
		"events":        purgeEventsQuery,
		"deliveries":    purgeDeliveriesQuery,
		"notifications": purgeNotificationsQuery,
	} {
		rows, err := s.pool.Query(ctx, "EXPLAIN "+q, ms(time.Time{}), ms(now.Add(-24*time.Hour)), 5000)
		if err != nil {
			t.Fatalf("%s: EXPLAIN: %v", name, err)
		}
		var plan []string
		for rows.Next() {
			var line string
			if err := rows.Scan(&line); err != nil {
				t.Fatal(err)
			}
			plan = append(plan, line)
		}
		rows.Close()
		text := strings.Join(plan, "\n")
		if strings.Contains(text, "Seq Scan") || strings.Contains(text, "Sort") || !strings.Contains(text, "_pkey") {
			t.Errorf("%s: the plan scans or sorts a table, or does not delete by primary key:\n%s", name, text)
		}
	}
}
