package postgres

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

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
	counts := make([]string, len(cutoffs))
	args := make([]any, 0, len(cutoffs))
	for i, c := range cutoffs {
		counts[i] = `count(*) FILTER (WHERE expires_at <= $` + strconv.Itoa(i+1) + `)`
		args = append(args, ms(c))
	}
	q := `SELECT provider, ` + strings.Join(counts, `, `) + ` FROM connections
		WHERE status = 'connected' AND expires_at IS NOT NULL AND expires_at <= $` + strconv.Itoa(len(cutoffs)) + `
		GROUP BY provider ORDER BY provider`
	rows, err := s.pool.Query(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("count expiring connections: %w", mapError(err))
	}
	defer rows.Close()
	var out []tokenkeeper.ExpiringCount
	n := make([]int64, len(cutoffs))
	dest := make([]any, len(cutoffs)+1)
	for i := range n {
		dest[i+1] = &n[i]
	}
	for rows.Next() {
		var provider string
		dest[0] = &provider
		if err := rows.Scan(dest...); err != nil {
			return nil, fmt.Errorf("count expiring connections: %w", mapError(err))
		}
		for i, c := range cutoffs {
			out = append(out, tokenkeeper.ExpiringCount{Provider: provider, Before: c, Count: int(n[i])})
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("count expiring connections: %w", mapError(err))
	}
	return out, nil
}

// CountAttempts counts refresh attempts in [since, until) by provider,
// bucket and class (see tokenkeeper.StatsStore). With a bucket of whole
// hours, the closed hours of the range (tokenkeeper.RollupRange) come from
// refresh_stats, rolled up first where missing; the edges are counted from
// refresh_attempts. Buckets are whole multiples of the bucket width since
// the Unix epoch, so hours and days are UTC's whatever the session's time
// zone.
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
	mid, err := s.queryCounts(ctx, `SELECT extract(epoch FROM hour)::bigint, provider, class, count
		FROM refresh_stats WHERE hour >= $1 AND hour < $2`, ms(from), ms(to))
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
	return s.queryCounts(ctx, `SELECT floor(extract(epoch FROM a.at) / $1::bigint)::bigint * $1::bigint, c.provider, a.class, count(*)
		FROM refresh_attempts a JOIN connections c ON c.id = a.connection_id
		WHERE a.at >= $2 AND a.at < $3
		GROUP BY 1, 2, 3`, int64(bucket/time.Second), ms(since), ms(until))
}

// queryCounts runs a query selecting (bucket unix seconds, provider, class, count).
func (s *Store) queryCounts(ctx context.Context, q string, args ...any) ([]tokenkeeper.AttemptCount, error) {
	rows, err := s.pool.Query(ctx, q, args...)
	if err != nil {
		return nil, mapError(err)
	}
	defer rows.Close()
	var out []tokenkeeper.AttemptCount
	for rows.Next() {
		var start, count int64
		var provider, class string
		if err := rows.Scan(&start, &provider, &class, &count); err != nil {
			return nil, mapError(err)
		}
		out = append(out, tokenkeeper.AttemptCount{Provider: provider, Bucket: time.Unix(start, 0).UTC(), Class: tokenkeeper.Class(class), Count: int(count)})
	}
	return out, mapError(rows.Err())
}

// rollUp writes the hourly totals of the hours of [from, to) that have none
// yet. One transaction claims the missing hours by inserting them into
// refresh_stats_hours (a replica doing the same waits on those rows, then
// finds them taken) and counts the attempts of exactly those hours. When
// every hour is done already it only reads.
func (s *Store) rollUp(ctx context.Context, from, to time.Time) error {
	var done int64
	if err := s.pool.QueryRow(ctx, `SELECT count(*) FROM refresh_stats_hours WHERE hour >= $1 AND hour < $2`,
		ms(from), ms(to)).Scan(&done); err != nil {
		return mapError(err)
	}
	if done == int64(to.Sub(from)/time.Hour) {
		return nil
	}
	return s.inTx(ctx, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `INSERT INTO refresh_stats_hours (hour)
			SELECT generate_series($1::timestamptz, $2::timestamptz - interval '1 hour', interval '1 hour')
			ON CONFLICT DO NOTHING RETURNING hour`, ms(from), ms(to))
		if err != nil {
			return mapError(err)
		}
		claimed, err := pgx.CollectRows(rows, pgx.RowTo[time.Time])
		if err != nil {
			return mapError(err)
		}
		if len(claimed) == 0 {
			return nil
		}
		_, err = tx.Exec(ctx, `INSERT INTO refresh_stats (hour, provider, class, count)
			SELECT to_timestamp((floor(extract(epoch FROM a.at) / 3600) * 3600)::float8), c.provider, a.class, count(*)
			FROM refresh_attempts a JOIN connections c ON c.id = a.connection_id
			WHERE a.at >= $1 AND a.at < $2
				AND to_timestamp((floor(extract(epoch FROM a.at) / 3600) * 3600)::float8) = ANY($3::timestamptz[])
			GROUP BY 1, 2, 3`, ms(from), ms(to), claimed)
		return mapError(err)
	})
}
