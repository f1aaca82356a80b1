package postgres

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/tokenkeeper/tokenkeeper"
)

// Page sizes of ListConnections.
const (
	defaultListLimit = 100
	maxListLimit     = 1000
)

// CreateConnection inserts c with version 1, its lease as given, and the
// events, in one transaction, and sets c.Version to 1. It returns an error
// wrapping tokenkeeper.ErrDuplicate when (user_id, provider, account_id) or
// the id exists.
func (s *Store) CreateConnection(ctx context.Context, c *tokenkeeper.Connection, events []tokenkeeper.Event) error {
	args := append(saveValues(c), c.ID, c.UserID, c.Provider, ms(c.CreatedAt), textOrNil(c.LeaseOwner), ts(c.LeaseUntil))
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO connections (account_id, scopes, status,
			expires_at, refresh_token_expires_at, lifetime_ms,
			consecutive_failures, consecutive_transient_failures, last_refreshed_at,
			last_error_class, last_error_code, last_error_http_status, last_error_message, last_error_at,
			next_refresh_at, notice, access_token, refresh_token, updated_at, refresh_interrupted,
			id, user_id, provider, created_at, lease_owner, lease_until, version)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20,
			        $21, $22, $23, $24, $25, $26, 1)`, args...)
		if err != nil {
			return mapError(err)
		}
		return insertEvents(ctx, tx, events)
	})
	if err != nil {
		return fmt.Errorf("create connection %s: %w", c.ID, err)
	}
	c.Version = 1
	return nil
}

// GetConnection returns the connection, sealed tokens included, or an error
// wrapping tokenkeeper.ErrNotFound.
func (s *Store) GetConnection(ctx context.Context, id string) (*tokenkeeper.Connection, error) {
	c, err := scanConnection(s.pool.QueryRow(ctx,
		`SELECT `+connectionColumns+` FROM connections WHERE id = $1`, id))
	if err != nil {
		return nil, fmt.Errorf("get connection %s: %w", id, err)
	}
	return c, nil
}

// FindConnection returns the user's connection at the provider and account.
// With an empty accountID it returns the most recently updated of the user's
// connections at the provider, of any account and status (the greatest id on
// a tie). It returns an error wrapping tokenkeeper.ErrNotFound when there is
// none.
func (s *Store) FindConnection(ctx context.Context, userID, provider, accountID string) (*tokenkeeper.Connection, error) {
	var row pgx.Row
	if accountID != "" {
		row = s.pool.QueryRow(ctx, `SELECT `+connectionColumns+` FROM connections
			WHERE user_id = $1 AND provider = $2 AND account_id = $3`, userID, provider, accountID)
	} else {
		row = s.pool.QueryRow(ctx, `SELECT `+connectionColumns+` FROM connections
			WHERE user_id = $1 AND provider = $2
			ORDER BY updated_at DESC, id DESC LIMIT 1`, userID, provider)
	}
	c, err := scanConnection(row)
	if err != nil {
		return nil, fmt.Errorf("find connection: %w", err)
	}
	return c, nil
}

// ListConnections returns the connections matching f ordered by id, at most
// f.Limit (100 when 0 or less, at most 1000), and the cursor of the next
// page: the last id returned when more rows follow, "" at the end.
func (s *Store) ListConnections(ctx context.Context, f tokenkeeper.ConnectionFilter) ([]*tokenkeeper.Connection, string, error) {
	limit := f.Limit
	if limit <= 0 {
		limit = defaultListLimit
	}
	limit = min(limit, maxListLimit)
	var where []string
	var args []any
	add := func(cond string, v any) {
		args = append(args, v)
		where = append(where, strings.ReplaceAll(cond, "?", "$"+strconv.Itoa(len(args))))
	}
	if f.UserID != "" {
		add("user_id = ?", f.UserID)
	}
	if f.Provider != "" {
		add("provider = ?", f.Provider)
	}
	if f.Status != "" {
		add("status = ?", string(f.Status))
	}
	if !f.ExpiringBefore.IsZero() {
		add("expires_at <= ?", ts(f.ExpiringBefore))
	}
	if !f.DueBefore.IsZero() {
		add("next_refresh_at <= ?", ts(f.DueBefore))
	}
	if f.After != "" {
		add("id > ?", f.After)
	}
	q := `SELECT ` + connectionColumns + ` FROM connections`
	if len(where) > 0 {
		q += ` WHERE ` + strings.Join(where, " AND ")
	}
	args = append(args, limit+1)
	q += ` ORDER BY id LIMIT $` + strconv.Itoa(len(args))
	rows, err := s.pool.Query(ctx, q, args...)
	if err != nil {
		return nil, "", fmt.Errorf("list connections: %w", mapError(err))
	}
	out, err := scanConnections(rows)
	if err != nil {
		return nil, "", fmt.Errorf("list connections: %w", err)
	}
	next := ""
	if len(out) > limit {
		out = out[:limit]
		next = out[limit-1].ID
	}
	return out, next, nil
}

// CountConnections returns the number of connections per provider and
// status, ordered by provider and status; combinations without rows are absent.
func (s *Store) CountConnections(ctx context.Context) ([]tokenkeeper.StatusCount, error) {
	rows, err := s.pool.Query(ctx, `SELECT provider, status, count(*) FROM connections
		GROUP BY provider, status ORDER BY provider, status`)
	if err != nil {
		return nil, fmt.Errorf("count connections: %w", mapError(err))
	}
	defer rows.Close()
	var out []tokenkeeper.StatusCount
	for rows.Next() {
		var sc tokenkeeper.StatusCount
		var status string
		if err := rows.Scan(&sc.Provider, &status, &sc.Count); err != nil {
			return nil, fmt.Errorf("count connections: %w", mapError(err))
		}
		sc.Status = tokenkeeper.Status(status)
		out = append(out, sc)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("count connections: %w", mapError(err))
	}
	return out, nil
}

// textOrNil stores empty strings as NULL.
func textOrNil(s string) any {
	if s == "" {
		return nil
	}
	return s
}
