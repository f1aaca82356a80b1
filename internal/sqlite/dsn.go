package sqlite

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
)

// The connection parameters of the two pools (modernc.org/sqlite DSN keys).
// busy_timeout comes first so that the other pragmas wait for locks too.
const (
	// writerParams: WAL, and BEGIN IMMEDIATE for every transaction, so that a
	// write transaction takes the write lock at its start and waits for it
	// (busy_timeout) instead of failing with SQLITE_BUSY on upgrade.
	writerParams = "_pragma=busy_timeout(5000)&_pragma=journal_mode(wal)&_pragma=foreign_keys(1)" +
		"&_pragma=synchronous(normal)&_txlock=immediate"
	// readerParams: read-only connections; WAL is set by the writer, which
	// opens first, and is persistent in the file.
	readerParams = "_pragma=busy_timeout(5000)&_pragma=foreign_keys(1)&_pragma=query_only(1)"
)

// fileURI turns a database name into a SQLite file: URI without the pool
// parameters. It accepts
//
//   - a file path: "tokenkeeper.db", "/var/lib/tokenkeeper/db.sqlite";
//   - the same with a scheme: "sqlite:path", "sqlite://path", "sqlite:///abs/path";
//   - a SQLite URI: "file:path?mode=rwc", kept as given.
//
// In-memory databases are refused: the store's writer and reader pools
// would each see a database of their own.
func fileURI(dsn string) (string, error) {
	name := dsn
	if rest, ok := strings.CutPrefix(name, "sqlite://"); ok {
		name = rest
	} else if rest, ok := strings.CutPrefix(name, "sqlite:"); ok {
		name = rest
	}
	if name == "" {
		return "", errors.New("empty database path")
	}
	if strings.IndexByte(name, 0) >= 0 {
		return "", errors.New("database path contains a NUL byte")
	}
	if strings.HasPrefix(name, "file:") {
		_, query, _ := strings.Cut(name, "?")
		q, err := url.ParseQuery(query)
		if err != nil {
			return "", fmt.Errorf("parse database URI query: %w", err)
		}
		if q.Get("mode") == "memory" || strings.HasPrefix(name, "file::memory:") {
			return "", errors.New("in-memory databases are not supported; use a file")
		}
		return name, nil
	}
	if name == ":memory:" {
		return "", errors.New("in-memory databases are not supported; use a file")
	}
	if strings.HasPrefix(name, "/") {
		// An empty authority, so that a path starting with "//" is not read
		// as a host name.
		return "file://" + escapePath(name), nil
	}
	return "file:" + escapePath(name), nil
}

// escapePath percent-encodes the bytes that would end or alter the path
// part of a SQLite URI ("?", "#", "%"), and control, space and non-ASCII
// bytes. SQLite decodes %HH in URI paths.
func escapePath(p string) string {
	var b strings.Builder
	for i := 0; i < len(p); i++ {
		c := p[i]
		if c <= ' ' || c >= 0x7f || c == '?' || c == '#' || c == '%' {
			fmt.Fprintf(&b, "%%%02X", c)
			continue
		}
		b.WriteByte(c)
	}
	return b.String()
}

// withParams appends query parameters to a file: URI.
func withParams(uri, params string) string {
	if strings.Contains(uri, "?") {
		return uri + "&" + params
	}
	return uri + "?" + params
}
