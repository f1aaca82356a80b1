-- tokenkeeper schema for SQLite. Times are INTEGER unix milliseconds, NULL
-- for "no time"; durations are INTEGER milliseconds; booleans are 0/1.
-- Tables are STRICT so that a value of the wrong type is an error.

-- +goose Up
CREATE TABLE connections (
    id                             TEXT    NOT NULL PRIMARY KEY,
    user_id                        TEXT    NOT NULL,
    provider                       TEXT    NOT NULL,
    account_id                     TEXT    NOT NULL DEFAULT '',
    scopes                         TEXT    NOT NULL DEFAULT '[]', -- JSON array of strings
    status                         TEXT    NOT NULL,
    expires_at                     INTEGER,
    refresh_token_expires_at       INTEGER,
    lifetime_ms                    INTEGER NOT NULL DEFAULT 0,
    consecutive_failures           INTEGER NOT NULL DEFAULT 0,
    consecutive_transient_failures INTEGER NOT NULL DEFAULT 0,
    last_refreshed_at              INTEGER,
    last_error_class               TEXT,    -- NULL: no last error
    last_error_code                TEXT,
    last_error_http_status         INTEGER,
    last_error_message             TEXT,
    last_error_at                  INTEGER,
    next_refresh_at                INTEGER, -- NULL: never
    notice                         TEXT    NOT NULL DEFAULT '',
    version                        INTEGER NOT NULL DEFAULT 1,
    lease_owner                    TEXT,
    lease_until                    INTEGER,
    access_token                   BLOB,    -- sealed
    refresh_token                  BLOB,    -- sealed
    created_at                     INTEGER NOT NULL,
    updated_at                     INTEGER NOT NULL,
    UNIQUE (user_id, provider, account_id)
) STRICT;

-- The schedule: only refreshable rows, so a claim reads the due rows alone.
CREATE INDEX connections_due ON connections (next_refresh_at)
    WHERE status = 'connected' AND next_refresh_at IS NOT NULL;
-- (user_id) is served by the UNIQUE index, whose first column it is.
CREATE INDEX connections_provider_status ON connections (provider, status);
CREATE INDEX connections_expires ON connections (expires_at);

-- Refresh history. No ON DELETE: history outlives nothing it refers to,
-- because connections are never deleted (disconnect keeps the row).
CREATE TABLE refresh_attempts (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    connection_id TEXT    NOT NULL REFERENCES connections (id),
    at            INTEGER NOT NULL,
    "trigger"     TEXT    NOT NULL,
    class         TEXT    NOT NULL,
    code          TEXT    NOT NULL DEFAULT '',
    http_status   INTEGER NOT NULL DEFAULT 0,
    duration_ms   INTEGER NOT NULL DEFAULT 0,
    rotated       INTEGER NOT NULL DEFAULT 0
) STRICT;
CREATE INDEX refresh_attempts_connection ON refresh_attempts (connection_id, id);

-- The transactional outbox. payload is the whole tokenkeeper.Event as JSON.
CREATE TABLE events (
    seq           INTEGER PRIMARY KEY AUTOINCREMENT,
    id            TEXT    NOT NULL UNIQUE,
    type          TEXT    NOT NULL,
    occurred_at   INTEGER NOT NULL,
    connection_id TEXT    NOT NULL DEFAULT '',
    payload       TEXT    NOT NULL
) STRICT;

CREATE TABLE api_keys (
    id           TEXT    NOT NULL PRIMARY KEY,
    name         TEXT    NOT NULL,
    hash         BLOB    NOT NULL UNIQUE,
    scopes       TEXT    NOT NULL DEFAULT '[]', -- JSON array of scope names
    created_at   INTEGER NOT NULL,
    last_used_at INTEGER,
    revoked_at   INTEGER
) STRICT;

CREATE TABLE users (
    id            TEXT    NOT NULL PRIMARY KEY,
    email         BLOB,   -- sealed
    email_enabled INTEGER NOT NULL DEFAULT 0,
    digest        INTEGER NOT NULL DEFAULT 0,
    updated_at    INTEGER
) STRICT;

-- Named leases for singleton work (a cron sweep, a key rotation).
CREATE TABLE leases (
    name  TEXT    NOT NULL PRIMARY KEY,
    owner TEXT    NOT NULL,
    until INTEGER NOT NULL
) STRICT;

-- +goose Down
DROP TABLE leases;
DROP TABLE users;
DROP TABLE api_keys;
DROP TABLE events;
DROP TABLE refresh_attempts;
DROP TABLE connections;
