package sqlite

import (
	"database/sql"
	"encoding/json"
	"fmt"
	"time"

	"github.com/tokenkeeper/tokenkeeper"
)

// connColumns lists the connections columns in the order of scanConnection
// and connValues.
const connColumns = `id, user_id, provider, account_id, scopes, status,
	expires_at, refresh_token_expires_at, lifetime_ms,
	consecutive_failures, consecutive_transient_failures, last_refreshed_at,
	last_error_class, last_error_code, last_error_http_status, last_error_message, last_error_at,
	next_refresh_at, notice, version, lease_owner, lease_until,
	access_token, refresh_token, created_at, updated_at, refresh_interrupted`

// connPlaceholders has one ? per column of connColumns.
const connPlaceholders = `?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?`

// scanner is a *sql.Row or *sql.Rows.
type scanner interface{ Scan(dest ...any) error }

// scanConnection reads one row selected with connColumns.
func scanConnection(sc scanner) (*tokenkeeper.Connection, error) {
	var (
		c                                                     tokenkeeper.Connection
		scopes                                                string
		expires, rtExpires, lastRefreshed, errAt, next, until sql.NullInt64
		lifetime                                              int64
		errClass, errCode, errMessage, owner                  sql.NullString
		errHTTP                                               sql.NullInt64
		created, updated                                      int64
	)
	err := sc.Scan(&c.ID, &c.UserID, &c.Provider, &c.AccountID, &scopes, &c.Status,
		&expires, &rtExpires, &lifetime,
		&c.ConsecutiveFailures, &c.ConsecutiveTransientFailures, &lastRefreshed,
		&errClass, &errCode, &errHTTP, &errMessage, &errAt,
		&next, &c.Notice, &c.Version, &owner, &until,
		&c.SealedAccessToken, &c.SealedRefreshToken, &created, &updated, &c.RefreshInterrupted)
	if err != nil {
		return nil, mapErr(err)
	}
	if c.Scopes, err = decodeStrings[string](scopes); err != nil {
		return nil, fmt.Errorf("decode scopes of connection %s: %w", c.ID, err)
	}
	c.ExpiresAt = fromMillis(expires)
	c.RefreshTokenExpiresAt = fromMillis(rtExpires)
	c.Lifetime = time.Duration(lifetime) * time.Millisecond
	c.LastRefreshedAt = fromMillis(lastRefreshed)
	if errClass.Valid {
		c.LastError = &tokenkeeper.LastError{
			Class:      tokenkeeper.Class(errClass.String),
			Code:       errCode.String,
			HTTPStatus: int(errHTTP.Int64),
			Message:    errMessage.String,
			At:         fromMillis(errAt),
		}
	}
	c.NextRefreshAt = fromMillis(next)
	c.LeaseOwner = owner.String
	c.LeaseUntil = fromMillis(until)
	c.CreatedAt = time.UnixMilli(created).UTC()
	c.UpdatedAt = time.UnixMilli(updated).UTC()
	return &c, nil
}

// connValues returns c's column values in the order of connColumns, with
// the given version.
func connValues(c *tokenkeeper.Connection, version int64) ([]any, error) {
	scopes, err := encodeStrings(c.Scopes)
	if err != nil {
		return nil, err
	}
	vals := []any{c.ID, c.UserID, c.Provider, c.AccountID, scopes, string(c.Status),
		millis(c.ExpiresAt), millis(c.RefreshTokenExpiresAt), c.Lifetime.Milliseconds(),
		c.ConsecutiveFailures, c.ConsecutiveTransientFailures, millis(c.LastRefreshedAt)}
	vals = append(vals, lastErrorValues(c.LastError)...)
	return append(vals, millis(c.NextRefreshAt), string(c.Notice), version,
		nullString(c.LeaseOwner), millis(c.LeaseUntil),
		blob(c.SealedAccessToken), blob(c.SealedRefreshToken), c.CreatedAt.UnixMilli(), c.UpdatedAt.UnixMilli(),
		c.RefreshInterrupted,
	), nil
}

// lastErrorValues returns the five last_error_* column values: NULLs when
// there is no last error.
func lastErrorValues(le *tokenkeeper.LastError) []any {
	if le == nil {
		return []any{nil, nil, nil, nil, nil}
	}
	return []any{string(le.Class), le.Code, le.HTTPStatus, le.Message, millis(le.At)}
}

// millis returns t as unix milliseconds, or nil (NULL) for the zero time.
func millis(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UnixMilli()
}

// fromMillis is the inverse of millis: NULL is the zero time.
func fromMillis(n sql.NullInt64) time.Time {
	if !n.Valid {
		return time.Time{}
	}
	return time.UnixMilli(n.Int64).UTC()
}

// truncate returns t as it reads back from the database.
func truncate(t time.Time) time.Time {
	if t.IsZero() {
		return t
	}
	return time.UnixMilli(t.UnixMilli()).UTC()
}

func nullString(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// blob returns b, or nil (NULL) when empty.
func blob(b []byte) any {
	if len(b) == 0 {
		return nil
	}
	return b
}

// encodeStrings encodes a list as a JSON array; nil becomes "[]".
func encodeStrings[S ~string](list []S) (string, error) {
	if len(list) == 0 {
		return "[]", nil
	}
	b, err := json.Marshal(list)
	if err != nil {
		return "", fmt.Errorf("encode list: %w", err)
	}
	return string(b), nil
}

// decodeStrings decodes a JSON array; an empty one becomes nil.
func decodeStrings[S ~string](s string) ([]S, error) {
	var list []S
	if err := json.Unmarshal([]byte(s), &list); err != nil {
		return nil, err
	}
	if len(list) == 0 {
		return nil, nil
	}
	return list, nil
}
