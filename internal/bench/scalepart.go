package bench

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/tokenkeeper/tokenkeeper/internal/clock"
)

// claimOwner is the lease owner of the timed claim passes.
const claimOwner = "bench-claim"

// scaleTable is a database holding stored connections, due of them due now
// with real sealed tokens at the fake provider.
type scaleTable struct {
	db     *database
	e      *engine
	stored int
	seeded time.Duration
	// now is the time the rows are due at; passes claim after it.
	now time.Time
	// passes are the timed claim passes, sorted after timePasses.
	passes []time.Duration
}

// scale times claim passes over tables of each size in Stored, reports the
// database size per connection, and the resident memory of serve on the
// largest SQLite table.
func (h *harness) scale(ctx context.Context) error {
	prov, err := StartProvider(ProviderOptions{})
	if err != nil {
		return err
	}
	defer prov.Close()
	for _, kind := range h.databases() {
		var tables []*scaleTable
		closeAll := func() {
			for _, t := range tables {
				t.db.Close()
			}
		}
		for i, n := range h.s.Stored {
			t, err := h.scaleTable(ctx, kind, prov, n, fmt.Sprintf("scale-%d", i))
			if err != nil {
				closeAll()
				return fmt.Errorf("%s, %d stored: %w", kind, n, err)
			}
			tables = append(tables, t)
		}
		if err := h.timePasses(ctx, tables); err != nil {
			closeAll()
			return fmt.Errorf("%s claim passes: %w", kind, err)
		}
		ref, big := tables[0], tables[len(tables)-1]
		ratio := float64(median(durs(big.passes))) / float64(median(durs(ref.passes)))
		h.rep.add(Row{
			Part: PartScale, Name: fmt.Sprintf("claim pass (ClaimDue of %d + NextDue), %s, %d stored vs %d stored: median (p90) of %d passes, taking turns", h.s.Due, kind, big.stored, ref.stored, h.s.ClaimPasses),
			Ours:  fmtDur(percentile(big.passes, 50)) + " (" + fmtDur(percentile(big.passes, 90)) + ")",
			Base:  fmtDur(percentile(ref.passes, 50)) + " (" + fmtDur(percentile(ref.passes, 90)) + ")",
			Ratio: ratio, Target: "≤ 1.5", Met: verdict(ratio <= 1.5), Note: h.storedNote(big.stored),
		})
		size, rows, err := dbSize(ctx, big.db)
		if err != nil {
			closeAll()
			return err
		}
		h.rep.add(Row{
			Part: PartScale, Name: fmt.Sprintf("database size per connection, %s, %d rows (tokens of %d and %d bytes sealed)", kind, rows, bulkAccessBytes, bulkRefreshBytes),
			Ours: fmt.Sprintf("%d B/connection (%s)", size/max(rows, 1), fmtBytes(size)),
		})
		h.rep.detail("scale, %s: bulk-inserting %d rows took %s", kind, big.stored, big.seeded.Round(time.Millisecond))
		if kind == dbSQLite && h.o.ServeBinary != "" {
			err = h.serveMemory(ctx, big, prov)
		}
		closeAll()
		if err != nil {
			return fmt.Errorf("serve memory: %w", err)
		}
	}
	return nil
}

// storedNote says when a table is smaller than the 1,000,000 rows of the
// issue (the quick and tiny scales).
func (h *harness) storedNote(stored int) string {
	if stored < 1_000_000 {
		return fmt.Sprintf("%d stored, not 1,000,000 (%s scale)", stored, h.s.Name)
	}
	return ""
}

// scaleTable builds a table of n connections, Due of them due now.
func (h *harness) scaleTable(ctx context.Context, kind string, prov *Provider, n int, name string) (*scaleTable, error) {
	db, err := h.openDB(ctx, kind, name)
	if err != nil {
		return nil, err
	}
	t := &scaleTable{db: db, stored: n}
	if t.e, err = newEngine(db.store, catalogMap{"bench": prov.Provider("bench")}, clock.Real{}); err != nil {
		db.Close()
		return nil, err
	}
	now := time.Now()
	if _, err := t.e.seedDue(ctx, prov, "bench", h.s.Due); err != nil {
		db.Close()
		return nil, err
	}
	start := time.Now()
	if err := h.bulkInsert(ctx, db, t.e, n-h.s.Due, now); err != nil {
		db.Close()
		return nil, fmt.Errorf("bulk insert: %w", err)
	}
	t.seeded = time.Since(start)
	t.now = now
	return t, nil
}

// timePasses times ClaimPasses scheduler claim passes on each table,
// taking turns so that every table sees the same machine: ClaimDue of the
// due rows, then NextDue. Each pass claims at a "now" 2 ms after the
// previous one, whose 1 ms leases have expired, so each claims the same
// rows. A first untimed pass warms the caches. It then frees the leases.
func (h *harness) timePasses(ctx context.Context, tables []*scaleTable) error {
	for k := range h.s.ClaimPasses + 1 {
		for _, t := range tables {
			at := t.now.Add(time.Duration(k+1) * 2 * time.Millisecond)
			start := time.Now()
			cs, err := t.db.store.ClaimDue(ctx, claimOwner, at, at.Add(time.Millisecond), h.s.Due, nil)
			if err != nil {
				return err
			}
			if _, _, err := t.db.store.NextDue(ctx); err != nil {
				return err
			}
			d := time.Since(start)
			if len(cs) != h.s.Due {
				return fmt.Errorf("claimed %d connections of %d stored, want %d", len(cs), t.stored, h.s.Due)
			}
			if k > 0 {
				t.passes = append(t.passes, d)
			}
		}
	}
	for _, t := range tables {
		slices.Sort(t.passes)
		if err := clearLeases(ctx, t.db, claimOwner); err != nil {
			return err
		}
	}
	return nil
}

// durs converts durations to float64 nanoseconds.
func durs(d []time.Duration) []float64 {
	out := make([]float64, len(d))
	for i, x := range d {
		out[i] = float64(x)
	}
	return out
}
