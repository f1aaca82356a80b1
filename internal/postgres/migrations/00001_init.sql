-- +goose Up
-- tokenkeeper schema for PostgreSQL, semantically identical to SQLite's
-- (internal/sqlite/migrations, same version numbers). Times are timestamptz
-- truncated to the millisecond in Go; NULL means "not set" (a zero
-- time.Time) in the nullable columns. SQL never calls now(): every time
-- comes from the caller. Durations are BIGINT milliseconds.

CREATE TABLE connections (
    id                             TEXT PRIMARY KEY,
    user_id                        TEXT NOT NULL,
    provider                       TEXT NOT NULL,
    account_id                     TEXT NOT NULL DEFAULT '',
    scopes                         TEXT[] NOT NULL DEFAULT '{}',
    status                         TEXT NOT NULL,
    expires_at                     TIMESTAMPTZ,
    refresh_token_expires_at       TIMESTAMPTZ,
    lifetime_ms                    BIGINT NOT NULL DEFAULT 0,
    consecutive_failures           INTEGER NOT NULL DEFAULT 0,
    consecutive_transient_failures INTEGER NOT NULL DEFAULT 0,
    last_refreshed_at              TIMESTAMPTZ,
    last_error_class               TEXT,
    last_error_code                TEXT,
    last_error_http_status         INTEGER,
    last_error_message             TEXT,
    last_error_at                  TIMESTAMPTZ,
    next_refresh_at                TIMESTAMPTZ,
    notice                         TEXT NOT NULL DEFAULT '',
    version                        BIGINT NOT NULL DEFAULT 1,
    lease_owner                    TEXT,
    lease_until                    TIMESTAMPTZ,
    access_token                   BYTEA,
    refresh_token                  BYTEA,
    created_at                     TIMESTAMPTZ NOT NULL,
    updated_at                     TIMESTAMPTZ NOT NULL,
    UNIQUE (user_id, provider, account_id)
);

-- The schedule: only connected rows with a refresh time are ever claimed, so
-- the claim's cost grows with the due rows, not with the table.
CREATE INDEX connections_due ON connections (next_refresh_at)
    WHERE status = 'connected' AND next_refresh_at IS NOT NULL;
-- (user_id) is served by the UNIQUE index, whose first column it is.
CREATE INDEX connections_provider_status ON connections (provider, status);
CREATE INDEX connections_expires ON connections (expires_at);

CREATE TABLE refresh_attempts (
    id            BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    connection_id TEXT NOT NULL REFERENCES connections (id),
    at            TIMESTAMPTZ NOT NULL,
    trigger       TEXT NOT NULL,
    class         TEXT NOT NULL,
    code          TEXT NOT NULL DEFAULT '',
    http_status   INTEGER NOT NULL DEFAULT 0,
    duration_ms   BIGINT NOT NULL DEFAULT 0,
    rotated       BOOLEAN NOT NULL DEFAULT FALSE
);
CREATE INDEX refresh_attempts_connection ON refresh_attempts (connection_id, id);

CREATE TABLE events (
    seq           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id            TEXT NOT NULL UNIQUE,
    type          TEXT NOT NULL,
    occurred_at   TIMESTAMPTZ NOT NULL,
    connection_id TEXT NOT NULL DEFAULT '',
    payload       JSONB NOT NULL
);

CREATE TABLE api_keys (
    id           TEXT PRIMARY KEY,
    name         TEXT NOT NULL,
    hash         BYTEA NOT NULL UNIQUE,
    scopes       TEXT[] NOT NULL DEFAULT '{}',
    created_at   TIMESTAMPTZ NOT NULL,
    last_used_at TIMESTAMPTZ,
    revoked_at   TIMESTAMPTZ
);

CREATE TABLE users (
    id            TEXT PRIMARY KEY,
    email         BYTEA,
    email_enabled BOOLEAN NOT NULL DEFAULT FALSE,
    digest        BOOLEAN NOT NULL DEFAULT FALSE,
    updated_at    TIMESTAMPTZ
);

CREATE TABLE leases (
    name  TEXT PRIMARY KEY,
    owner TEXT NOT NULL,
    until TIMESTAMPTZ NOT NULL
);

-- +goose Down
DROP TABLE leases;
DROP TABLE users;
DROP TABLE api_keys;
DROP TABLE events;
DROP TABLE refresh_attempts;
DROP TABLE connections;
