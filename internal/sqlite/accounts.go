package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/tokenkeeper/tokenkeeper"
)

const apiKeyColumns = `id, name, hash, scopes, created_at, last_used_at, revoked_at`

// scanAPIKey reads one row selected with apiKeyColumns.
func scanAPIKey(sc scanner) (*tokenkeeper.APIKey, error) {
	var k tokenkeeper.APIKey
	var scopes string
	var created int64
	var lastUsed, revoked sql.NullInt64
	if err := sc.Scan(&k.ID, &k.Name, &k.Hash, &scopes, &created, &lastUsed, &revoked); err != nil {
		return nil, mapErr(err)
	}
	var err error
	if k.Scopes, err = decodeStrings[tokenkeeper.Scope](scopes); err != nil {
		return nil, fmt.Errorf("decode scopes of api key %s: %w", k.ID, err)
	}
	k.CreatedAt = time.UnixMilli(created).UTC()
	k.LastUsedAt = fromMillis(lastUsed)
	k.RevokedAt = fromMillis(revoked)
	return &k, nil
}

// CreateAPIKey stores k (its hash; the key itself is never given to the
// store). A taken id or hash is a CONFLICT error.
func (s *Store) CreateAPIKey(ctx context.Context, k *tokenkeeper.APIKey) error {
	scopes, err := encodeStrings(k.Scopes)
	if err != nil {
		return fmt.Errorf("create api key %s: %w", k.ID, err)
	}
	err = s.write(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO api_keys (`+apiKeyColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?)`,
			k.ID, k.Name, k.Hash, scopes, k.CreatedAt.UnixMilli(), millis(k.LastUsedAt), millis(k.RevokedAt))
		return mapErr(err)
	})
	if err != nil {
		return fmt.Errorf("create api key %s: %w", k.ID, err)
	}
	return nil
}

// apiKeyByHashQuery selects GetAPIKeyByHash's answer.
const apiKeyByHashQuery = `SELECT ` + apiKeyColumns + ` FROM api_keys WHERE hash = ? AND revoked_at IS NULL`

// GetAPIKeyByHash returns the unrevoked key with this hash, or an error
// wrapping tokenkeeper.ErrNotFound.
func (s *Store) GetAPIKeyByHash(ctx context.Context, hash []byte) (*tokenkeeper.APIKey, error) {
	rs, err := s.reads.get(ctx)
	if err != nil {
		return nil, fmt.Errorf("get api key by hash: %w", err)
	}
	k, err := scanAPIKey(rs.getAPIKeyByHash.QueryRowContext(ctx, hash))
	if err != nil {
		return nil, fmt.Errorf("get api key by hash: %w", err)
	}
	return k, nil
}

// ListAPIKeys returns every key, revoked ones included, oldest first (by
// creation time, then id).
func (s *Store) ListAPIKeys(ctx context.Context) ([]*tokenkeeper.APIKey, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT `+apiKeyColumns+` FROM api_keys ORDER BY created_at, id`)
	if err != nil {
		return nil, fmt.Errorf("list api keys: %w", mapErr(err))
	}
	defer rows.Close()
	var out []*tokenkeeper.APIKey
	for rows.Next() {
		k, err := scanAPIKey(rows)
		if err != nil {
			return nil, fmt.Errorf("list api keys: %w", err)
		}
		out = append(out, k)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list api keys: %w", mapErr(err))
	}
	return out, nil
}

// RevokeAPIKey marks key id revoked at now; a key revoked before keeps its
// first revocation time. It returns an error wrapping tokenkeeper.ErrNotFound
// for an unknown id.
func (s *Store) RevokeAPIKey(ctx context.Context, id string, now time.Time) error {
	return s.updateAPIKey(ctx, "revoke", `UPDATE api_keys SET revoked_at = COALESCE(revoked_at, ?) WHERE id = ?`, id, now)
}

// TouchAPIKey records that key id was used at now; an earlier time than the
// one recorded (a late concurrent request) does not move it back. It returns
// an error wrapping tokenkeeper.ErrNotFound for an unknown id.
func (s *Store) TouchAPIKey(ctx context.Context, id string, now time.Time) error {
	return s.updateAPIKey(ctx, "touch", `UPDATE api_keys SET last_used_at = MAX(COALESCE(last_used_at, 0), ?) WHERE id = ?`, id, now)
}

// updateAPIKey runs q with (now, id) and maps "no row" to ErrNotFound.
func (s *Store) updateAPIKey(ctx context.Context, action, q, id string, now time.Time) error {
	err := s.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, q, now.UnixMilli(), id)
		if err != nil {
			return mapErr(err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return mapErr(err)
		} else if n == 0 {
			return tokenkeeper.ErrNotFound
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("%s api key %s: %w", action, id, err)
	}
	return nil
}

// PutUser creates or replaces a user's sealed e-mail and notification
// settings.
func (s *Store) PutUser(ctx context.Context, u *tokenkeeper.User) error {
	err := s.write(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO users (id, email, email_enabled, digest, updated_at) VALUES (?, ?, ?, ?, ?)
			ON CONFLICT (id) DO UPDATE SET email = excluded.email, email_enabled = excluded.email_enabled,
				digest = excluded.digest, updated_at = excluded.updated_at`,
			u.ID, blob(u.SealedEmail), u.EmailEnabled, u.Digest, millis(u.UpdatedAt))
		return mapErr(err)
	})
	if err != nil {
		return fmt.Errorf("put user %s: %w", u.ID, err)
	}
	return nil
}

// ResealUserEmail replaces the user's sealed e-mail address by sealed if
// the stored one is still old, and returns the address stored afterwards.
func (s *Store) ResealUserEmail(ctx context.Context, id string, old, sealed []byte, now time.Time) ([]byte, error) {
	var stored []byte
	err := s.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE users SET email = ?, updated_at = ? WHERE id = ? AND email = ?`,
			blob(sealed), millis(now), id, old)
		if err != nil {
			return mapErr(err)
		}
		if n, err := res.RowsAffected(); err != nil || n == 1 {
			stored = sealed
			return mapErr(err)
		}
		return mapErr(tx.QueryRowContext(ctx, `SELECT email FROM users WHERE id = ?`, id).Scan(&stored))
	})
	if err != nil {
		return nil, fmt.Errorf("re-encrypt e-mail of user %s: %w", id, err)
	}
	return stored, nil
}

// GetUser returns a user, or an error wrapping tokenkeeper.ErrNotFound.
func (s *Store) GetUser(ctx context.Context, id string) (*tokenkeeper.User, error) {
	var u tokenkeeper.User
	var updated sql.NullInt64
	err := s.r.QueryRowContext(ctx, `SELECT id, email, email_enabled, digest, updated_at FROM users WHERE id = ?`, id).
		Scan(&u.ID, &u.SealedEmail, &u.EmailEnabled, &u.Digest, &updated)
	if err != nil {
		return nil, fmt.Errorf("get user %s: %w", id, mapErr(err))
	}
	u.UpdatedAt = fromMillis(updated)
	return &u, nil
}

// ListUsers returns users ordered by id after `after`, at most limit (100
// when limit <= 0, at most 1,000).
func (s *Store) ListUsers(ctx context.Context, after string, limit int) ([]*tokenkeeper.User, error) {
	if limit <= 0 {
		limit = 100
	}
	limit = min(limit, 1000)
	rows, err := s.r.QueryContext(ctx, `SELECT id, email, email_enabled, digest, updated_at FROM users WHERE id > ? ORDER BY id LIMIT ?`, after, limit)
	if err != nil {
		return nil, fmt.Errorf("list users: %w", mapErr(err))
	}
	defer rows.Close()
	var out []*tokenkeeper.User
	for rows.Next() {
		var u tokenkeeper.User
		var updated sql.NullInt64
		if err := rows.Scan(&u.ID, &u.SealedEmail, &u.EmailEnabled, &u.Digest, &updated); err != nil {
			return nil, fmt.Errorf("list users: %w", mapErr(err))
		}
		u.UpdatedAt = fromMillis(updated)
		out = append(out, &u)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list users: %w", mapErr(err))
	}
	return out, nil
}
