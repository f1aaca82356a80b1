package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/tokenkeeper/tokenkeeper"
)

var _ tokenkeeper.ConnectStore = (*Store)(nil)

// stateColumns is the select list scanState reads, in its order.
const stateColumns = `hash, provider, user_id, account_id, connection_id, link_id, return_url,
	redirect_uri, scopes, verifier, created_at, expires_at, used_at`

// CreateState stores a new OAuth state; ErrDuplicate when its hash exists.
func (s *Store) CreateState(ctx context.Context, st *tokenkeeper.OAuthState) error {
	scopes := st.Scopes
	if scopes == nil {
		scopes = []string{}
	}
	tag, err := s.pool.Exec(ctx, `INSERT INTO oauth_states (`+stateColumns+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) ON CONFLICT (hash) DO NOTHING`,
		st.Hash, st.Provider, st.UserID, st.AccountID, st.ConnectionID, st.LinkID, st.ReturnURL,
		st.RedirectURI, scopes, bytesOrNil(st.SealedVerifier), ms(st.CreatedAt), ms(st.ExpiresAt), ts(st.UsedAt))
	if err != nil {
		return fmt.Errorf("create state: %w", mapError(err))
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("create state: %w", tokenkeeper.ErrDuplicate)
	}
	return nil
}

// ConsumeState marks the state used at now and returns it, in one UPDATE
// that applies only to an unused, unexpired state (the row lock makes
// concurrent consumers wait and then find it used); when none applies it
// reads the row to tell unknown, used and expired apart.
func (s *Store) ConsumeState(ctx context.Context, hash []byte, now time.Time) (*tokenkeeper.OAuthState, error) {
	st, err := scanState(s.pool.QueryRow(ctx, `UPDATE oauth_states SET used_at = $2
		WHERE hash = $1 AND used_at IS NULL AND expires_at > $2 RETURNING `+stateColumns, hash, ms(now)))
	if err == nil {
		return st, nil
	}
	if !errors.Is(err, tokenkeeper.ErrNotFound) {
		return nil, fmt.Errorf("consume state: %w", err)
	}
	st, err = scanState(s.pool.QueryRow(ctx, `SELECT `+stateColumns+` FROM oauth_states WHERE hash = $1`, hash))
	switch {
	case err != nil:
		return nil, fmt.Errorf("consume state: %w", err)
	case !st.UsedAt.IsZero():
		return nil, fmt.Errorf("consume state: %w", tokenkeeper.ErrStateUsed)
	default:
		return nil, fmt.Errorf("consume state: %w", tokenkeeper.ErrStateExpired)
	}
}

// PendingStates counts the states neither used nor expired at now.
func (s *Store) PendingStates(ctx context.Context, now time.Time) (int, error) {
	var n int
	err := s.pool.QueryRow(ctx, `SELECT COUNT(*) FROM oauth_states WHERE used_at IS NULL AND expires_at > $1`, ms(now)).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("count pending states: %w", mapError(err))
	}
	return n, nil
}

// ListStates returns states ordered by hash after `after`, at most limit
// (100 when limit <= 0), used and expired ones included.
func (s *Store) ListStates(ctx context.Context, after []byte, limit int) ([]*tokenkeeper.OAuthState, error) {
	if limit <= 0 {
		limit = 100
	}
	rows, err := s.pool.Query(ctx, `SELECT `+stateColumns+` FROM oauth_states
		WHERE hash > COALESCE($1::bytea, ''::bytea) ORDER BY hash LIMIT $2`, bytesOrNil(after), limit)
	if err != nil {
		return nil, fmt.Errorf("list states: %w", mapError(err))
	}
	defer rows.Close()
	var out []*tokenkeeper.OAuthState
	for rows.Next() {
		st, err := scanState(rows)
		if err != nil {
			return nil, fmt.Errorf("list states: %w", err)
		}
		out = append(out, st)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list states: %w", mapError(err))
	}
	return out, nil
}

// ResealState replaces the state's verifier by sealed if it is still old, in
// one UPDATE (which waits for a concurrent writer of the row and then
// rechecks the condition); when it is not, it returns the verifier stored.
func (s *Store) ResealState(ctx context.Context, hash, old, sealed []byte) ([]byte, error) {
	if len(sealed) == 0 {
		return nil, errors.New("reseal state: empty sealed value")
	}
	tag, err := s.pool.Exec(ctx, `UPDATE oauth_states SET verifier = $3 WHERE hash = $1 AND verifier = $2`, hash, old, sealed)
	if err != nil {
		return nil, fmt.Errorf("reseal state: %w", mapError(err))
	}
	if tag.RowsAffected() == 1 {
		return sealed, nil
	}
	var stored []byte
	if err := s.pool.QueryRow(ctx, `SELECT verifier FROM oauth_states WHERE hash = $1`, hash).Scan(&stored); err != nil {
		return nil, fmt.Errorf("reseal state: %w", mapError(err))
	}
	return stored, nil
}

// scanState reads one row of stateColumns.
func scanState(row pgx.Row) (*tokenkeeper.OAuthState, error) {
	var (
		st                     tokenkeeper.OAuthState
		created, expires, used pgtype.Timestamptz
	)
	err := row.Scan(&st.Hash, &st.Provider, &st.UserID, &st.AccountID, &st.ConnectionID, &st.LinkID, &st.ReturnURL,
		&st.RedirectURI, &st.Scopes, &st.SealedVerifier, &created, &expires, &used)
	if err != nil {
		return nil, mapError(err)
	}
	if len(st.Scopes) == 0 {
		st.Scopes = nil
	}
	if len(st.SealedVerifier) == 0 {
		st.SealedVerifier = nil
	}
	st.CreatedAt, st.ExpiresAt, st.UsedAt = tm(created), tm(expires), tm(used)
	return &st, nil
}

// UseKey records key as used at now until expiresAt, unless it was recorded
// before; it reports whether this call recorded it.
func (s *Store) UseKey(ctx context.Context, key string, now, expiresAt time.Time) (bool, error) {
	tag, err := s.pool.Exec(ctx, `INSERT INTO used_keys (key, used_at, expires_at) VALUES ($1, $2, $3)
		ON CONFLICT (key) DO NOTHING`, key, ms(now), ms(expiresAt))
	if err != nil {
		return false, fmt.Errorf("use key: %w", mapError(err))
	}
	return tag.RowsAffected() == 1, nil
}

// KeyUsed reports whether key was recorded by UseKey (and not purged).
func (s *Store) KeyUsed(ctx context.Context, key string) (bool, error) {
	var used bool
	if err := s.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM used_keys WHERE key = $1)`, key).Scan(&used); err != nil {
		return false, fmt.Errorf("read used key: %w", mapError(err))
	}
	return used, nil
}

// PurgeConnect deletes states that expired before `before` and used keys
// whose expiry is before it.
func (s *Store) PurgeConnect(ctx context.Context, before time.Time) (int64, error) {
	var total int64
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		for _, q := range []string{`DELETE FROM oauth_states WHERE expires_at < $1`, `DELETE FROM used_keys WHERE expires_at < $1`} {
			tag, err := tx.Exec(ctx, q, ms(before))
			if err != nil {
				return mapError(err)
			}
			total += tag.RowsAffected()
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("purge connect records: %w", err)
	}
	return total, nil
}
