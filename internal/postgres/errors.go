package postgres

import (
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/tokenkeeper/tokenkeeper"
)

// PostgreSQL error codes the store translates
// (https://www.postgresql.org/docs/current/errcodes-appendix.html).
const (
	codeUniqueViolation = "23505"
	codeUndefinedTable  = "42P01"
)

// errAPIKeyExists is returned when an API key's id or hash is taken.
var errAPIKeyExists = &tokenkeeper.Error{Code: tokenkeeper.CodeConflict, Message: "api key already exists"}

// mapError translates a driver error into the domain's vocabulary; it is the
// only place that looks at PostgreSQL error codes.
//
//   - pgx.ErrNoRows becomes tokenkeeper.ErrNotFound;
//   - a unique violation on connections (its primary key or its
//     (user_id, provider, account_id) key) becomes tokenkeeper.ErrDuplicate,
//     on api_keys errAPIKeyExists.
//
// Other errors are returned unchanged. The server's error messages name
// constraints and columns; the values (ids, hashes) are only in the detail,
// which *pgconn.PgError does not print.
func mapError(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, pgx.ErrNoRows) {
		return tokenkeeper.ErrNotFound
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch pgErr.Code {
		case codeUniqueViolation:
			switch {
			case strings.HasPrefix(pgErr.ConstraintName, "connections_"):
				return tokenkeeper.ErrDuplicate
			case strings.HasPrefix(pgErr.ConstraintName, "api_keys_"):
				return errAPIKeyExists
			}
		}
	}
	return err
}

// isUndefinedTable reports whether err says a table does not exist.
func isUndefinedTable(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == codeUndefinedTable
}

// redactedError hides the text of an error that may quote a connection
// string, password included; the cause stays reachable with errors.As.
type redactedError struct{ err error }

func (e redactedError) Error() string {
	return fmt.Sprintf("invalid connection string (%T; not shown, it may hold a password)", e.err)
}

func (e redactedError) Unwrap() error { return e.err }
