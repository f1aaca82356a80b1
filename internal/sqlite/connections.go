package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"strings"

	"github.com/tokenkeeper/tokenkeeper"
)

// Page sizes of ListConnections.
const (
	defaultListLimit = 100
	maxListLimit     = 1000
)

// CreateConnection inserts c with Version 1 and the events, in one
// transaction, and sets c.Version to 1. It returns an error wrapping
// tokenkeeper.ErrDuplicate when the (user, provider, account) or the id
// exists.
func (s *Store) CreateConnection(ctx context.Context, c *tokenkeeper.Connection, events []tokenkeeper.Event) error {
	vals, err := connValues(c, 1)
	if err != nil {
		return fmt.Errorf("create connection %s: %w", c.ID, err)
	}
	ws, err := s.writes.get(ctx)
	if err != nil {
		return fmt.Errorf("create connection %s: %w", c.ID, err)
	}
	err = s.write(ctx, func(tx *sql.Tx) error {
		q := `INSERT INTO connections (` + connColumns + `) VALUES (` + connPlaceholders + `)`
		if _, err := tx.ExecContext(ctx, q, vals...); err != nil {
			return mapErr(err)
		}
		return insertEvents(ctx, tx, ws, events)
	})
	if err != nil {
		return fmt.Errorf("create connection %s: %w", c.ID, err)
	}
	c.Version = 1
	return nil
}

// getConnectionQuery selects GetConnection's answer.
const getConnectionQuery = `SELECT ` + connColumns + ` FROM connections WHERE id = ?`

// GetConnection returns the connection with its sealed tokens, or an error
// wrapping tokenkeeper.ErrNotFound.
func (s *Store) GetConnection(ctx context.Context, id string) (*tokenkeeper.Connection, error) {
	rs, err := s.reads.get(ctx)
	if err != nil {
		return nil, fmt.Errorf("get connection %s: %w", id, err)
	}
	c, err := scanConnection(rs.getConnection.QueryRowContext(ctx, id))
	if err != nil {
		return nil, fmt.Errorf("get connection %s: %w", id, err)
	}
	return c, nil
}

// FindConnection returns a user's connection at a provider: the one of
// accountID, or with an empty accountID the most recently updated one of any
// account (the latest id on a tie). Any status matches. It returns an error
// wrapping tokenkeeper.ErrNotFound when there is none.
func (s *Store) FindConnection(ctx context.Context, userID, provider, accountID string) (*tokenkeeper.Connection, error) {
	q := `SELECT ` + connColumns + ` FROM connections WHERE user_id = ? AND provider = ?`
	args := []any{userID, provider}
	if accountID != "" {
		q += ` AND account_id = ?`
		args = append(args, accountID)
	}
	q += ` ORDER BY updated_at DESC, id DESC LIMIT 1`
	c, err := scanConnection(s.r.QueryRowContext(ctx, q, args...))
	if err != nil {
		return nil, fmt.Errorf("find connection of user %s at %s: %w", userID, provider, err)
	}
	return c, nil
}

// ListConnections returns the connections matching f ordered by id, after
// f.After, at most f.Limit (100 when 0 or less, at most 1000), and the last
// id of the page as the next cursor when more follow ("" otherwise).
func (s *Store) ListConnections(ctx context.Context, f tokenkeeper.ConnectionFilter) ([]*tokenkeeper.Connection, string, error) {
	limit := f.Limit
	if limit <= 0 {
		limit = defaultListLimit
	}
	limit = min(limit, maxListLimit)
	var where []string
	var args []any
	add := func(cond string, arg any) {
		where = append(where, cond)
		args = append(args, arg)
	}
	if f.UserID != "" {
		add(`user_id = ?`, f.UserID)
	}
	if f.Provider != "" {
		add(`provider = ?`, f.Provider)
	}
	if f.Status != "" {
		add(`status = ?`, string(f.Status))
	}
	if !f.ExpiringBefore.IsZero() {
		add(`expires_at <= ?`, f.ExpiringBefore.UnixMilli())
	}
	if !f.DueBefore.IsZero() {
		add(`next_refresh_at <= ?`, f.DueBefore.UnixMilli())
	}
	if f.After != "" {
		add(`id > ?`, f.After)
	}
	q := `SELECT ` + connColumns + ` FROM connections`
	if len(where) > 0 {
		q += ` WHERE ` + strings.Join(where, ` AND `)
	}
	q += ` ORDER BY id LIMIT ?`
	args = append(args, limit+1) // one more tells whether a next page exists
	cs, err := queryConnections(ctx, s.r, q, args...)
	if err != nil {
		return nil, "", fmt.Errorf("list connections: %w", err)
	}
	if len(cs) <= limit {
		return cs, "", nil
	}
	cs = cs[:limit]
	return cs, cs[limit-1].ID, nil
}

// queryer is a *sql.DB or *sql.Tx.
type queryer interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

// queryConnections runs a query selecting connColumns.
func queryConnections(ctx context.Context, db queryer, q string, args ...any) ([]*tokenkeeper.Connection, error) {
	return scanConnections(db.QueryContext(ctx, q, args...))
}

// scanConnections reads the rows of a query selecting connColumns, or
// returns the query's error.
func scanConnections(rows *sql.Rows, err error) ([]*tokenkeeper.Connection, error) {
	if err != nil {
		return nil, mapErr(err)
	}
	defer rows.Close()
	var cs []*tokenkeeper.Connection
	for rows.Next() {
		c, err := scanConnection(rows)
		if err != nil {
			return nil, err
		}
		cs = append(cs, c)
	}
	return cs, mapErr(rows.Err())
}

// CountConnections returns the number of connections per provider and
// status, ordered by provider then status.
func (s *Store) CountConnections(ctx context.Context) ([]tokenkeeper.StatusCount, error) {
	rows, err := s.r.QueryContext(ctx,
		`SELECT provider, status, COUNT(*) FROM connections GROUP BY provider, status ORDER BY provider, status`)
	if err != nil {
		return nil, fmt.Errorf("count connections: %w", mapErr(err))
	}
	defer rows.Close()
	var out []tokenkeeper.StatusCount
	for rows.Next() {
		var sc tokenkeeper.StatusCount
		if err := rows.Scan(&sc.Provider, &sc.Status, &sc.Count); err != nil {
			return nil, fmt.Errorf("count connections: %w", mapErr(err))
		}
		out = append(out, sc)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("count connections: %w", mapErr(err))
	}
	return out, nil
}
