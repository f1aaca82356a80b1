package sqlite

import (
	"database/sql"
	"errors"
	"strings"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/tokenkeeper/tokenkeeper"
)

// errAPIKeyExists is returned when an API key's id or hash is taken.
var errAPIKeyExists = &tokenkeeper.Error{Code: tokenkeeper.CodeConflict, Message: "api key already exists"}

// mapErr translates a driver error into the domain's vocabulary; it is the
// only place that looks at SQLite error codes.
//
//   - sql.ErrNoRows becomes tokenkeeper.ErrNotFound;
//   - a UNIQUE or PRIMARY KEY violation on connections becomes
//     tokenkeeper.ErrDuplicate, on api_keys errAPIKeyExists;
//   - SQLITE_BUSY (the lock was not obtained within busy_timeout) becomes an
//     UNAVAILABLE error wrapping the cause.
//
// Other errors are returned unchanged. Driver messages name tables and
// columns, never values, so they carry no secret.
func mapErr(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, sql.ErrNoRows) {
		return tokenkeeper.ErrNotFound
	}
	var se *sqlite.Error
	if !errors.As(err, &se) {
		return err
	}
	switch se.Code() {
	case sqlite3.SQLITE_CONSTRAINT_UNIQUE, sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY:
		switch msg := se.Error(); {
		case strings.Contains(msg, "connections."):
			return tokenkeeper.ErrDuplicate
		case strings.Contains(msg, "api_keys."):
			return errAPIKeyExists
		}
	case sqlite3.SQLITE_BUSY, sqlite3.SQLITE_BUSY_SNAPSHOT, sqlite3.SQLITE_BUSY_TIMEOUT:
		return &tokenkeeper.Error{Code: tokenkeeper.CodeUnavailable, Message: "database busy", Err: err}
	}
	return err
}
