-- The connect flow: OAuth states, used single-use keys (reconnect links) and
-- revocations still owed to providers.

-- +goose Up
-- One row per authorization request in flight. The state parameter is never
-- stored, only its hash; the PKCE verifier is sealed.
CREATE TABLE oauth_states (
    hash          BYTEA       NOT NULL PRIMARY KEY,
    provider      TEXT        NOT NULL,
    user_id       TEXT        NOT NULL,
    account_id    TEXT        NOT NULL DEFAULT '',
    connection_id TEXT        NOT NULL DEFAULT '',
    link_id       TEXT        NOT NULL DEFAULT '',
    return_url    TEXT        NOT NULL DEFAULT '',
    redirect_uri  TEXT        NOT NULL,
    scopes        TEXT[]      NOT NULL DEFAULT '{}',
    verifier      BYTEA,                 -- sealed
    created_at    TIMESTAMPTZ NOT NULL,
    expires_at    TIMESTAMPTZ NOT NULL,
    used_at       TIMESTAMPTZ
);
CREATE INDEX oauth_states_expires ON oauth_states (expires_at);

-- Single-use keys that were used, remembered until expires_at.
CREATE TABLE used_keys (
    key        TEXT        NOT NULL PRIMARY KEY,
    used_at    TIMESTAMPTZ NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX used_keys_expires ON used_keys (expires_at);

-- Tokens whose revocation failed transiently at disconnect; retried, then erased.
CREATE TABLE pending_revocations (
    id              TEXT        NOT NULL PRIMARY KEY,
    connection_id   TEXT        NOT NULL,
    provider        TEXT        NOT NULL,
    token_type_hint TEXT        NOT NULL DEFAULT '',
    token           BYTEA       NOT NULL, -- sealed
    attempts        INTEGER     NOT NULL DEFAULT 0,
    last_code       TEXT        NOT NULL DEFAULT '',
    created_at      TIMESTAMPTZ NOT NULL,
    next_attempt_at TIMESTAMPTZ NOT NULL,
    lease_owner     TEXT,
    lease_until     TIMESTAMPTZ
);
CREATE INDEX pending_revocations_next ON pending_revocations (next_attempt_at);

-- +goose Down
DROP TABLE pending_revocations;
DROP TABLE used_keys;
DROP TABLE oauth_states;
