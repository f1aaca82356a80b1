package sqlite

import (
	"database/sql"
	"fmt"
	"testing"
	"time"

	"github.com/tokenkeeper/tokenkeeper/internal/storetest"
)

func TestStatsConformance(t *testing.T) {
	t.Parallel()
	storetest.RunStats(t, func(t *testing.T) storetest.StatsStore { return setup(t) })
}

// BenchmarkCountExpiring measures the query behind the expiring gauges and
// the overview on 100,000 connected connections, all expiring within the
// hour (the worst case: every row is counted).
func BenchmarkCountExpiring(b *testing.B) {
	s := setup(b)
	now := storetest.BaseTime()
	insertBulk(b, s, 100_000, 0, now)
	cutoffs := []time.Time{now.Add(time.Hour), now.Add(24 * time.Hour)}
	b.ResetTimer()
	for b.Loop() {
		if _, err := s.CountExpiring(b.Context(), cutoffs); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCountAttempts measures a 7-day chart over 1,000,000 attempts of
// 10,000 connections: "rolled" is a call once the closed hours are rolled
// up (every call but the first), "raw" counts every row as without rollup.
func BenchmarkCountAttempts(b *testing.B) {
	s := setup(b)
	now := storetest.BaseTime()
	insertBulk(b, s, 10_000, 0, now)
	const n = 1_000_000
	week := 7 * 24 * time.Hour
	err := s.write(b.Context(), func(tx *sql.Tx) error {
		stmt, err := tx.PrepareContext(b.Context(), `INSERT INTO refresh_attempts (connection_id, at, "trigger", class) VALUES (?, ?, 'scheduler', ?)`)
		if err != nil {
			return err
		}
		defer stmt.Close()
		for i := range n {
			at := now.Add(-week + time.Duration(i)*(week/n))
			class := []string{"success", "success", "success", "transient"}[i%4]
			if _, err := stmt.ExecContext(b.Context(), fmt.Sprintf("conn_bulk%09d", i%10_000), at.UnixMilli(), class); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	since := now.Add(-week)
	start := time.Now()
	if _, err := s.CountAttempts(b.Context(), since, now, 24*time.Hour); err != nil {
		b.Fatal(err)
	}
	b.Logf("the first call, which rolls up 168 hours, took %s", time.Since(start).Round(time.Millisecond))
	b.Run("rolled", func(b *testing.B) {
		for b.Loop() {
			if _, err := s.CountAttempts(b.Context(), since, now, 24*time.Hour); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("raw", func(b *testing.B) {
		for b.Loop() {
			if _, err := s.rawAttempts(b.Context(), since, now, 24*time.Hour); err != nil {
				b.Fatal(err)
			}
		}
	})
}
