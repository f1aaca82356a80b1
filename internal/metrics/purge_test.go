package metrics

import (
	"testing"

	"github.com/tokenkeeper/tokenkeeper"
)

// TestObservePurge: tokenkeeper_history_purged_rows_total reports every
// history table from the start, at 0, and adds up the rows of each purge
// per table.
func TestObservePurge(t *testing.T) {
	t.Parallel()
	m, err := New(Options{Store: allSources{}, NoRuntime: true})
	if err != nil {
		t.Fatal(err)
	}
	const name = "tokenkeeper_history_purged_rows_total"
	tables := []string{"refresh_attempts", "events", "deliveries", "notifications"}
	fams, _ := scrape(t, m.Handler())
	for _, table := range tables {
		if v, ok := value(t, fams, name, "table="+table); !ok || v != 0 {
			t.Errorf("before any purge: %s{table=%q} = %v, %t; want 0, true", name, table, v, ok)
		}
	}
	m.ObservePurge(tokenkeeper.PurgeCounts{Attempts: 5000, Events: 3, Deliveries: 2, Notifications: 1})
	m.ObservePurge(tokenkeeper.PurgeCounts{Attempts: 7, Notifications: 1})
	fams, _ = scrape(t, m.Handler())
	for i, want := range []float64{5007, 3, 2, 2} {
		if v, ok := value(t, fams, name, "table="+tables[i]); !ok || v != want {
			t.Errorf("%s{table=%q} = %v, %t; want %v", name, tables[i], v, ok, want)
		}
	}
}
