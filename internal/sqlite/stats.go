package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"

	"github.com/tokenkeeper/tokenkeeper"
)

var _ tokenkeeper.StatsStore = (*Store)(nil)

// CountExpiring returns, per provider, the connected connections whose access
// token expires at or before each cutoff (see tokenkeeper.StatsStore). One
// query over the expires_at index answers every cutoff.
func (s *Store) CountExpiring(ctx context.Context, cutoffs []time.Time) ([]tokenkeeper.ExpiringCount, error) {
	if len(cutoffs) == 0 {
		return nil, nil
	}
	sums := make([]string, len(cutoffs))
	args := make([]any, 0, len(cutoffs)+1)
	for i, c := range cutoffs {
		sums[i] = `SUM(expires_at <= ?)`
		args = append(args, c.UnixMilli())
	}
	args = append(args, cutoffs[len(cutoffs)-1].UnixMilli())
	// The index (status, provider, expires_at) covers the query: the count
	// reads the index alone.
	q := `SELECT provider, ` + strings.Join(sums, `, `) + ` FROM connections
		WHERE status = 'connected' AND expires_at IS NOT NULL AND expires_at <= ?
		GROUP BY provider ORDER BY provider`
	rows, err := s.r.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("count expiring connections: %w", mapErr(err))
	}
	defer rows.Close()
	var out []tokenkeeper.ExpiringCount
	counts := make([]int, len(cutoffs))
	dest := make([]any, len(cutoffs)+1)
	for i := range counts {
		dest[i+1] = &counts[i]
	}
	for rows.Next() {
		var provider string
		dest[0] = &provider
		if err := rows.Scan(dest...); err != nil {
			return nil, fmt.Errorf("count expiring connections: %w", mapErr(err))
		}
		for i, c := range cutoffs {
			out = append(out, tokenkeeper.ExpiringCount{Provider: provider, Before: c, Count: counts[i]})
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("count expiring connections: %w", mapErr(err))
	}
	return out, nil
}

// CountAttempts counts refresh attempts in [since, until) by provider,
// bucket and class (see tokenkeeper.StatsStore). With a bucket of whole
// hours, the closed hours of the range (tokenkeeper.RollupRange) come from
// refresh_stats, rolled up first where missing; the edges are counted from
// refresh_attempts. Buckets are aligned to the Unix epoch, in UTC.
func (s *Store) CountAttempts(ctx context.Context, since, until time.Time, bucket time.Duration) ([]tokenkeeper.AttemptCount, error) {
	if err := tokenkeeper.ValidBucket(bucket); err != nil {
		return nil, err
	}
	from, to := tokenkeeper.RollupRange(since, until)
	if bucket%time.Hour != 0 || !from.Before(to) {
		rows, err := s.rawAttempts(ctx, since, until, bucket)
		if err != nil {
			return nil, fmt.Errorf("count refresh attempts: %w", err)
		}
		return tokenkeeper.Rebucket(rows, bucket), nil
	}
	if err := s.rollUp(ctx, from, to); err != nil {
		return nil, fmt.Errorf("roll up refresh attempts: %w", err)
	}
	head, err := s.rawAttempts(ctx, since, from, time.Hour)
	if err != nil {
		return nil, fmt.Errorf("count refresh attempts: %w", err)
	}
	mid, err := s.rolledAttempts(ctx, from, to)
	if err != nil {
		return nil, fmt.Errorf("count refresh attempts: %w", err)
	}
	tail, err := s.rawAttempts(ctx, to, until, time.Hour)
	if err != nil {
		return nil, fmt.Errorf("count refresh attempts: %w", err)
	}
	return tokenkeeper.Rebucket(append(append(head, mid...), tail...), bucket), nil
}

// rawAttempts counts the attempts in [since, until) from refresh_attempts.
func (s *Store) rawAttempts(ctx context.Context, since, until time.Time, bucket time.Duration) ([]tokenkeeper.AttemptCount, error) {
	if !until.After(since) {
		return nil, nil
	}
	width := bucket.Milliseconds()
	return queryCounts(ctx, s.r, `SELECT (a.at / ?) * ?, c.provider, a.class, COUNT(*)
		FROM refresh_attempts a JOIN connections c ON c.id = a.connection_id
		WHERE a.at >= ? AND a.at < ?
		GROUP BY 1, 2, 3`, width, width, since.UnixMilli(), until.UnixMilli())
}

// rolledAttempts reads the hourly totals of [from, to).
func (s *Store) rolledAttempts(ctx context.Context, from, to time.Time) ([]tokenkeeper.AttemptCount, error) {
	return queryCounts(ctx, s.r, `SELECT hour, provider, class, count FROM refresh_stats WHERE hour >= ? AND hour < ?`,
		from.UnixMilli(), to.UnixMilli())
}

// queryCounts runs a query selecting (bucket ms, provider, class, count).
func queryCounts(ctx context.Context, db queryer, q string, args ...any) ([]tokenkeeper.AttemptCount, error) {
	rows, err := db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, mapErr(err)
	}
	defer rows.Close()
	var out []tokenkeeper.AttemptCount
	for rows.Next() {
		var ac tokenkeeper.AttemptCount
		var start int64
		if err := rows.Scan(&start, &ac.Provider, &ac.Class, &ac.Count); err != nil {
			return nil, mapErr(err)
		}
		ac.Bucket = time.UnixMilli(start).UTC()
		out = append(out, ac)
	}
	return out, mapErr(rows.Err())
}

// rollUp writes the hourly totals of the hours of [from, to) that have none
// yet, and marks them done. The attempts are counted on a read connection,
// so the write lock is held only to store the totals: refreshes are not
// held up while a week of history is counted for the first time.
func (s *Store) rollUp(ctx context.Context, from, to time.Time) error {
	done, err := doneHours(ctx, s.r, from, to)
	if err != nil {
		return err
	}
	var missing []time.Time
	var counts []tokenkeeper.AttemptCount
	for h := from; h.Before(to); h = h.Add(time.Hour) {
		if done[h.UnixMilli()] {
			continue
		}
		missing = append(missing, h)
		run := h.Add(time.Hour) // count a run of missing hours with one query
		if len(missing) > 1 && missing[len(missing)-2].Add(time.Hour).Equal(h) {
			continue
		}
		for run.Before(to) && !done[run.UnixMilli()] {
			run = run.Add(time.Hour)
		}
		c, err := s.rawAttempts(ctx, h, run, time.Hour)
		if err != nil {
			return err
		}
		counts = append(counts, c...)
	}
	if len(missing) == 0 {
		return nil
	}
	return s.write(ctx, func(tx *sql.Tx) error {
		// Another writer may have rolled up some of these hours meanwhile.
		again, err := doneHours(ctx, tx, from, to)
		if err != nil {
			return err
		}
		for _, h := range missing {
			if again[h.UnixMilli()] {
				continue
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO refresh_stats_hours (hour) VALUES (?)`, h.UnixMilli()); err != nil {
				return mapErr(err)
			}
		}
		for _, c := range counts {
			if again[c.Bucket.UnixMilli()] {
				continue
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO refresh_stats (hour, provider, class, count) VALUES (?, ?, ?, ?)`,
				c.Bucket.UnixMilli(), c.Provider, string(c.Class), c.Count); err != nil {
				return mapErr(err)
			}
		}
		return nil
	})
}

// doneHours returns the hours of [from, to) that are rolled up, as unix ms.
func doneHours(ctx context.Context, db queryer, from, to time.Time) (map[int64]bool, error) {
	rows, err := db.QueryContext(ctx, `SELECT hour FROM refresh_stats_hours WHERE hour >= ? AND hour < ?`, from.UnixMilli(), to.UnixMilli())
	if err != nil {
		return nil, mapErr(err)
	}
	defer rows.Close()
	done := map[int64]bool{}
	for rows.Next() {
		var h int64
		if err := rows.Scan(&h); err != nil {
			return nil, mapErr(err)
		}
		done[h] = true
	}
	return done, mapErr(rows.Err())
}
