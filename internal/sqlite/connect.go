package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/tokenkeeper/tokenkeeper"
)

var _ tokenkeeper.ConnectStore = (*Store)(nil)

// stateColumns lists the oauth_states columns in the order of scanState.
const stateColumns = `hash, provider, user_id, account_id, connection_id, link_id, return_url,
	redirect_uri, scopes, verifier, created_at, expires_at, used_at`

// CreateState stores a new OAuth state; ErrDuplicate when its hash exists.
func (s *Store) CreateState(ctx context.Context, st *tokenkeeper.OAuthState) error {
	scopes, err := encodeStrings(st.Scopes)
	if err != nil {
		return fmt.Errorf("create state: %w", err)
	}
	err = s.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `INSERT INTO oauth_states (`+stateColumns+`)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (hash) DO NOTHING`,
			st.Hash, st.Provider, st.UserID, st.AccountID, st.ConnectionID, st.LinkID, st.ReturnURL,
			st.RedirectURI, scopes, blob(st.SealedVerifier), st.CreatedAt.UnixMilli(), st.ExpiresAt.UnixMilli(), millis(st.UsedAt))
		if err != nil {
			return mapErr(err)
		}
		return oneRow(res, tokenkeeper.ErrDuplicate)
	})
	if err != nil {
		return fmt.Errorf("create state: %w", err)
	}
	return nil
}

// ConsumeState marks the state used at now and returns it, in one UPDATE
// that applies only to an unused, unexpired state; when none applies it
// reads the row to tell unknown, used and expired apart.
func (s *Store) ConsumeState(ctx context.Context, hash []byte, now time.Time) (*tokenkeeper.OAuthState, error) {
	var st *tokenkeeper.OAuthState
	err := s.write(ctx, func(tx *sql.Tx) error {
		var err error
		st, err = scanState(tx.QueryRowContext(ctx, `UPDATE oauth_states SET used_at = ?
			WHERE hash = ? AND used_at IS NULL AND expires_at > ? RETURNING `+stateColumns,
			now.UnixMilli(), hash, now.UnixMilli()))
		if !errors.Is(err, tokenkeeper.ErrNotFound) {
			return err
		}
		st, err = scanState(tx.QueryRowContext(ctx, `SELECT `+stateColumns+` FROM oauth_states WHERE hash = ?`, hash))
		switch {
		case err != nil:
			return err
		case !st.UsedAt.IsZero():
			return tokenkeeper.ErrStateUsed
		default:
			return tokenkeeper.ErrStateExpired
		}
	})
	if err != nil {
		return nil, fmt.Errorf("consume state: %w", err)
	}
	return st, nil
}

// PendingStates counts the states neither used nor expired at now.
func (s *Store) PendingStates(ctx context.Context, now time.Time) (int, error) {
	var n int
	err := s.r.QueryRowContext(ctx, `SELECT COUNT(*) FROM oauth_states WHERE used_at IS NULL AND expires_at > ?`,
		now.UnixMilli()).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("count pending states: %w", mapErr(err))
	}
	return n, nil
}

// ListStates returns states ordered by hash after `after`, at most limit
// (100 when limit <= 0), used and expired ones included.
func (s *Store) ListStates(ctx context.Context, after []byte, limit int) ([]*tokenkeeper.OAuthState, error) {
	if limit <= 0 {
		limit = 100
	}
	rows, err := s.r.QueryContext(ctx, `SELECT `+stateColumns+` FROM oauth_states
		WHERE hash > COALESCE(?, x'') ORDER BY hash LIMIT ?`, blob(after), limit)
	if err != nil {
		return nil, fmt.Errorf("list states: %w", mapErr(err))
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
		return nil, fmt.Errorf("list states: %w", mapErr(err))
	}
	return out, nil
}

// ResealState replaces the state's verifier by sealed if it is still old,
// in one write transaction; when it is not, it returns the verifier stored.
func (s *Store) ResealState(ctx context.Context, hash, old, sealed []byte) ([]byte, error) {
	if len(sealed) == 0 {
		return nil, errors.New("reseal state: empty sealed value")
	}
	var stored []byte
	err := s.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE oauth_states SET verifier = ? WHERE hash = ? AND verifier = ?`, sealed, hash, old)
		if err != nil {
			return mapErr(err)
		}
		if n, err := res.RowsAffected(); err != nil || n == 1 {
			stored = sealed
			return mapErr(err)
		}
		return mapErr(tx.QueryRowContext(ctx, `SELECT verifier FROM oauth_states WHERE hash = ?`, hash).Scan(&stored))
	})
	if err != nil {
		return nil, fmt.Errorf("reseal state: %w", err)
	}
	return stored, nil
}

// scanState reads one row selected with stateColumns.
func scanState(sc scanner) (*tokenkeeper.OAuthState, error) {
	var (
		st               tokenkeeper.OAuthState
		scopes           string
		created, expires int64
		used             sql.NullInt64
	)
	err := sc.Scan(&st.Hash, &st.Provider, &st.UserID, &st.AccountID, &st.ConnectionID, &st.LinkID, &st.ReturnURL,
		&st.RedirectURI, &scopes, &st.SealedVerifier, &created, &expires, &used)
	if err != nil {
		return nil, mapErr(err)
	}
	if st.Scopes, err = decodeStrings[string](scopes); err != nil {
		return nil, fmt.Errorf("decode scopes of a state: %w", err)
	}
	st.CreatedAt = time.UnixMilli(created).UTC()
	st.ExpiresAt = time.UnixMilli(expires).UTC()
	st.UsedAt = fromMillis(used)
	return &st, nil
}

// UseKey records key as used at now until expiresAt, unless it was recorded
// before; it reports whether this call recorded it.
func (s *Store) UseKey(ctx context.Context, key string, now, expiresAt time.Time) (bool, error) {
	var recorded bool
	err := s.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `INSERT INTO used_keys (key, used_at, expires_at) VALUES (?, ?, ?)
			ON CONFLICT (key) DO NOTHING`, key, now.UnixMilli(), expiresAt.UnixMilli())
		if err != nil {
			return mapErr(err)
		}
		n, err := res.RowsAffected()
		recorded = n == 1
		return mapErr(err)
	})
	if err != nil {
		return false, fmt.Errorf("use key: %w", err)
	}
	return recorded, nil
}

// KeyUsed reports whether key was recorded by UseKey (and not purged).
func (s *Store) KeyUsed(ctx context.Context, key string) (bool, error) {
	var n int
	if err := s.r.QueryRowContext(ctx, `SELECT COUNT(*) FROM used_keys WHERE key = ?`, key).Scan(&n); err != nil {
		return false, fmt.Errorf("read used key: %w", mapErr(err))
	}
	return n > 0, nil
}

// PurgeConnect deletes states that expired before `before` and used keys
// whose expiry is before it.
func (s *Store) PurgeConnect(ctx context.Context, before time.Time) (int64, error) {
	var total int64
	err := s.write(ctx, func(tx *sql.Tx) error {
		for _, q := range []string{`DELETE FROM oauth_states WHERE expires_at < ?`, `DELETE FROM used_keys WHERE expires_at < ?`} {
			res, err := tx.ExecContext(ctx, q, before.UnixMilli())
			if err != nil {
				return mapErr(err)
			}
			n, err := res.RowsAffected()
			if err != nil {
				return mapErr(err)
			}
			total += n
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("purge connect records: %w", err)
	}
	return total, nil
}

// oneRow returns errNone when res changed no row.
func oneRow(res sql.Result, errNone error) error {
	n, err := res.RowsAffected()
	if err != nil {
		return mapErr(err)
	}
	if n == 0 {
		return errNone
	}
	return nil
}
