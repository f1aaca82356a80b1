package postgres

import (
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/tokenkeeper/tokenkeeper"
)

// connectionColumns is the select list scanConnection reads, in its order.
const connectionColumns = `id, user_id, provider, account_id, scopes, status,
	expires_at, refresh_token_expires_at, lifetime_ms,
	consecutive_failures, consecutive_transient_failures, last_refreshed_at,
	last_error_class, last_error_code, last_error_http_status, last_error_message, last_error_at,
	next_refresh_at, notice, version, lease_owner, lease_until,
	access_token, refresh_token, created_at, updated_at, refresh_interrupted`

// saveColumns are the columns SaveConnection writes, as assignments to
// $1…$20: everything but the id, the user, the provider, the creation time,
// the version and the lease. saveValues returns their values.
// refresh_interrupted is written as the connection says: writers that hold
// the lease read it after taking the lease, and a relink clears it.
const saveColumns = `account_id = $1, scopes = $2, status = $3,
	expires_at = $4, refresh_token_expires_at = $5, lifetime_ms = $6,
	consecutive_failures = $7, consecutive_transient_failures = $8, last_refreshed_at = $9,
	last_error_class = $10, last_error_code = $11, last_error_http_status = $12,
	last_error_message = $13, last_error_at = $14,
	next_refresh_at = $15, notice = $16, access_token = $17, refresh_token = $18, updated_at = $19,
	refresh_interrupted = $20`

// saveValues returns c's values for saveColumns, in their order.
func saveValues(c *tokenkeeper.Connection) []any {
	var leClass, leCode, leMessage, leStatus, leAt any
	if le := c.LastError; le != nil {
		leClass, leCode, leMessage, leStatus, leAt = string(le.Class), le.Code, le.Message, le.HTTPStatus, ts(le.At)
	}
	scopes := c.Scopes
	if scopes == nil {
		scopes = []string{}
	}
	return []any{
		c.AccountID, scopes, string(c.Status),
		ts(c.ExpiresAt), ts(c.RefreshTokenExpiresAt), c.Lifetime.Milliseconds(),
		c.ConsecutiveFailures, c.ConsecutiveTransientFailures, ts(c.LastRefreshedAt),
		leClass, leCode, leStatus, leMessage, leAt,
		ts(c.NextRefreshAt), string(c.Notice),
		bytesOrNil(c.SealedAccessToken), bytesOrNil(c.SealedRefreshToken),
		ms(c.UpdatedAt), c.RefreshInterrupted,
	}
}

// scanConnection reads one row of connectionColumns.
func scanConnection(row pgx.Row) (*tokenkeeper.Connection, error) {
	var (
		c                                                     tokenkeeper.Connection
		status, notice                                        string
		lifetimeMS                                            int64
		expires, rtExpires, refreshed, leAt, next, leaseUntil pgtype.Timestamptz
		created, updated                                      pgtype.Timestamptz
		leClass, leCode, leMessage, leaseOwner                pgtype.Text
		leStatus                                              pgtype.Int4
	)
	err := row.Scan(&c.ID, &c.UserID, &c.Provider, &c.AccountID, &c.Scopes, &status,
		&expires, &rtExpires, &lifetimeMS,
		&c.ConsecutiveFailures, &c.ConsecutiveTransientFailures, &refreshed,
		&leClass, &leCode, &leStatus, &leMessage, &leAt,
		&next, &notice, &c.Version, &leaseOwner, &leaseUntil,
		&c.SealedAccessToken, &c.SealedRefreshToken, &created, &updated, &c.RefreshInterrupted)
	if err != nil {
		return nil, mapError(err)
	}
	if len(c.Scopes) == 0 {
		c.Scopes = nil
	}
	c.Status = tokenkeeper.Status(status)
	c.Notice = tokenkeeper.EventType(notice)
	c.Lifetime = time.Duration(lifetimeMS) * time.Millisecond
	c.ExpiresAt, c.RefreshTokenExpiresAt = tm(expires), tm(rtExpires)
	c.LastRefreshedAt, c.NextRefreshAt = tm(refreshed), tm(next)
	c.LeaseOwner, c.LeaseUntil = leaseOwner.String, tm(leaseUntil)
	c.CreatedAt, c.UpdatedAt = tm(created), tm(updated)
	if leClass.Valid {
		c.LastError = &tokenkeeper.LastError{
			Class:      tokenkeeper.Class(leClass.String),
			Code:       leCode.String,
			HTTPStatus: int(leStatus.Int32),
			Message:    leMessage.String,
			At:         tm(leAt),
		}
	}
	if len(c.SealedAccessToken) == 0 {
		c.SealedAccessToken = nil
	}
	if len(c.SealedRefreshToken) == 0 {
		c.SealedRefreshToken = nil
	}
	return &c, nil
}

// scanConnections reads every row of a connectionColumns query.
func scanConnections(rows pgx.Rows) ([]*tokenkeeper.Connection, error) {
	defer rows.Close()
	var out []*tokenkeeper.Connection
	for rows.Next() {
		c, err := scanConnection(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, mapError(err)
	}
	return out, nil
}

// tm converts a scanned timestamptz to a time.Time in UTC; NULL is the zero time.
func tm(t pgtype.Timestamptz) time.Time {
	if !t.Valid {
		return time.Time{}
	}
	return t.Time.UTC()
}

// bytesOrNil stores empty byte slices as NULL.
func bytesOrNil(b []byte) any {
	if len(b) == 0 {
		return nil
	}
	return b
}
