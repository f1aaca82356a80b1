package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/tokenkeeper/tokenkeeper"
)

const apiKeyColumns = `id, name, hash, scopes, created_at, last_used_at, revoked_at`

// CreateAPIKey stores k (its hash; the key itself is never given to the
// store). A taken id or hash is a CONFLICT error.
func (s *Store) CreateAPIKey(ctx context.Context, k *tokenkeeper.APIKey) error {
	scopes := make([]string, len(k.Scopes))
	for i, sc := range k.Scopes {
		scopes[i] = string(sc)
	}
	_, err := s.pool.Exec(ctx, `INSERT INTO api_keys (`+apiKeyColumns+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7)`,
		k.ID, k.Name, k.Hash, scopes, ms(k.CreatedAt), ts(k.LastUsedAt), ts(k.RevokedAt))
	if err != nil {
		return fmt.Errorf("create api key %s: %w", k.ID, mapError(err))
	}
	return nil
}

// GetAPIKeyByHash returns the unrevoked key with this hash, or an error
// wrapping tokenkeeper.ErrNotFound.
func (s *Store) GetAPIKeyByHash(ctx context.Context, hash []byte) (*tokenkeeper.APIKey, error) {
	k, err := scanAPIKey(s.pool.QueryRow(ctx, `SELECT `+apiKeyColumns+` FROM api_keys
		WHERE hash = $1 AND revoked_at IS NULL`, hash))
	if err != nil {
		return nil, fmt.Errorf("get api key by hash: %w", err)
	}
	return k, nil
}

// ListAPIKeys returns every key, revoked ones included, oldest first (by
// creation time, then id).
func (s *Store) ListAPIKeys(ctx context.Context) ([]*tokenkeeper.APIKey, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+apiKeyColumns+` FROM api_keys ORDER BY created_at, id`)
	if err != nil {
		return nil, fmt.Errorf("list api keys: %w", mapError(err))
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
		return nil, fmt.Errorf("list api keys: %w", mapError(err))
	}
	return out, nil
}

// RevokeAPIKey marks key id revoked at now; a key revoked before keeps its
// first revocation time. It returns an error wrapping tokenkeeper.ErrNotFound
// for an unknown id.
func (s *Store) RevokeAPIKey(ctx context.Context, id string, now time.Time) error {
	return s.updateAPIKey(ctx, "revoke", `UPDATE api_keys SET revoked_at = coalesce(revoked_at, $1) WHERE id = $2`, id, now)
}

// TouchAPIKey records that key id was used at now; an earlier time than the
// one recorded (a late concurrent request) does not move it back. It returns
// an error wrapping tokenkeeper.ErrNotFound for an unknown id.
func (s *Store) TouchAPIKey(ctx context.Context, id string, now time.Time) error {
	// greatest() ignores NULLs: a first touch sets the time.
	return s.updateAPIKey(ctx, "touch", `UPDATE api_keys SET last_used_at = greatest(last_used_at, $1) WHERE id = $2`, id, now)
}

// updateAPIKey runs q with (now, id) and maps "no row" to ErrNotFound.
func (s *Store) updateAPIKey(ctx context.Context, action, q, id string, now time.Time) error {
	tag, err := s.pool.Exec(ctx, q, ms(now), id)
	if err != nil {
		return fmt.Errorf("%s api key %s: %w", action, id, mapError(err))
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("%s api key %s: %w", action, id, tokenkeeper.ErrNotFound)
	}
	return nil
}

// scanAPIKey reads one row of apiKeyColumns.
func scanAPIKey(row pgx.Row) (*tokenkeeper.APIKey, error) {
	var k tokenkeeper.APIKey
	var scopes []string
	var created, used, revoked pgtype.Timestamptz
	if err := row.Scan(&k.ID, &k.Name, &k.Hash, &scopes, &created, &used, &revoked); err != nil {
		return nil, mapError(err)
	}
	for _, sc := range scopes {
		k.Scopes = append(k.Scopes, tokenkeeper.Scope(sc))
	}
	k.CreatedAt, k.LastUsedAt, k.RevokedAt = tm(created), tm(used), tm(revoked)
	return &k, nil
}

// PutUser creates or replaces a user's sealed e-mail and notification
// settings.
func (s *Store) PutUser(ctx context.Context, u *tokenkeeper.User) error {
	_, err := s.pool.Exec(ctx, `INSERT INTO users (id, email, email_enabled, digest, updated_at)
		VALUES ($1, $2, $3, $4, $5)
		ON CONFLICT (id) DO UPDATE SET email = excluded.email, email_enabled = excluded.email_enabled,
			digest = excluded.digest, updated_at = excluded.updated_at`,
		u.ID, bytesOrNil(u.SealedEmail), u.EmailEnabled, u.Digest, ts(u.UpdatedAt))
	if err != nil {
		return fmt.Errorf("put user %s: %w", u.ID, mapError(err))
	}
	return nil
}

// ResealUserEmail replaces the user's sealed e-mail address by sealed if
// the stored one is still old, and returns the address stored afterwards.
func (s *Store) ResealUserEmail(ctx context.Context, id string, old, sealed []byte, now time.Time) ([]byte, error) {
	tag, err := s.pool.Exec(ctx, `UPDATE users SET email = $1, updated_at = $2 WHERE id = $3 AND email = $4`,
		bytesOrNil(sealed), ts(now), id, old)
	if err != nil {
		return nil, fmt.Errorf("re-encrypt e-mail of user %s: %w", id, mapError(err))
	}
	if tag.RowsAffected() == 1 {
		return sealed, nil
	}
	var stored []byte
	if err := s.pool.QueryRow(ctx, `SELECT email FROM users WHERE id = $1`, id).Scan(&stored); err != nil {
		return nil, fmt.Errorf("re-encrypt e-mail of user %s: %w", id, mapError(err))
	}
	return stored, nil
}

// GetUser returns a user, or an error wrapping tokenkeeper.ErrNotFound.
func (s *Store) GetUser(ctx context.Context, id string) (*tokenkeeper.User, error) {
	var u tokenkeeper.User
	var updated pgtype.Timestamptz
	err := s.pool.QueryRow(ctx, `SELECT id, email, email_enabled, digest, updated_at FROM users WHERE id = $1`, id).
		Scan(&u.ID, &u.SealedEmail, &u.EmailEnabled, &u.Digest, &updated)
	if err != nil {
		return nil, fmt.Errorf("get user %s: %w", id, mapError(err))
	}
	u.UpdatedAt = tm(updated)
	return &u, nil
}

// ListUsers returns users ordered by id after `after`, at most limit (100
// when limit <= 0, at most 1,000).
func (s *Store) ListUsers(ctx context.Context, after string, limit int) ([]*tokenkeeper.User, error) {
	if limit <= 0 {
		limit = 100
	}
	limit = min(limit, 1000)
	rows, err := s.pool.Query(ctx, `SELECT id, email, email_enabled, digest, updated_at FROM users WHERE id > $1 ORDER BY id LIMIT $2`, after, limit)
	if err != nil {
		return nil, fmt.Errorf("list users: %w", mapError(err))
	}
	defer rows.Close()
	var out []*tokenkeeper.User
	for rows.Next() {
		var u tokenkeeper.User
		var updated pgtype.Timestamptz
		if err := rows.Scan(&u.ID, &u.SealedEmail, &u.EmailEnabled, &u.Digest, &updated); err != nil {
			return nil, fmt.Errorf("list users: %w", mapError(err))
		}
		u.UpdatedAt = tm(updated)
		out = append(out, &u)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list users: %w", mapError(err))
	}
	return out, nil
}
