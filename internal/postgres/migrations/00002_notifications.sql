-- +goose Up
-- Notifications, semantically identical to internal/sqlite's 00002: the
-- outbox events gain a dispatch lease; in-app notifications and deliveries
-- (e-mail, webhook, chat) are what the notifier makes of them. Claims use
-- FOR UPDATE SKIP LOCKED over the partial indexes below.

ALTER TABLE events ADD COLUMN dispatched_at TIMESTAMPTZ;
ALTER TABLE events ADD COLUMN lease_owner TEXT;
ALTER TABLE events ADD COLUMN lease_until TIMESTAMPTZ;
CREATE INDEX events_undispatched ON events (seq) WHERE dispatched_at IS NULL;

CREATE TABLE notifications (
    seq            BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id             TEXT NOT NULL UNIQUE,
    event_id       TEXT NOT NULL UNIQUE,
    user_id        TEXT NOT NULL,
    connection_id  TEXT NOT NULL DEFAULT '',
    provider       TEXT NOT NULL DEFAULT '',
    type           TEXT NOT NULL,
    message        TEXT NOT NULL,
    created_at     TIMESTAMPTZ NOT NULL,
    read_at        TIMESTAMPTZ,
    digest_pending BOOLEAN NOT NULL DEFAULT FALSE
);
CREATE INDEX notifications_user ON notifications (user_id, seq);
CREATE INDEX notifications_digest ON notifications (user_id, created_at) WHERE digest_pending;

CREATE TABLE deliveries (
    seq             BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id              TEXT NOT NULL UNIQUE,
    dedup_key       TEXT NOT NULL UNIQUE,
    event_id        TEXT NOT NULL DEFAULT '',
    channel         TEXT NOT NULL,
    target          TEXT NOT NULL DEFAULT '',
    user_id         TEXT NOT NULL DEFAULT '',
    payload         BYTEA NOT NULL, -- bytes, not JSONB: a webhook body is sent exactly as stored
    status          TEXT NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TIMESTAMPTZ,
    last_error      TEXT NOT NULL DEFAULT '',
    lease_owner     TEXT,
    lease_until     TIMESTAMPTZ,
    created_at      TIMESTAMPTZ NOT NULL,
    retried_at      TIMESTAMPTZ,
    updated_at      TIMESTAMPTZ NOT NULL,
    delivered_at    TIMESTAMPTZ
);
CREATE INDEX deliveries_due ON deliveries (next_attempt_at) WHERE status = 'pending';
CREATE INDEX deliveries_status ON deliveries (status, seq);

-- +goose Down
DROP TABLE deliveries;
DROP TABLE notifications;
DROP INDEX events_undispatched;
ALTER TABLE events DROP COLUMN lease_until;
ALTER TABLE events DROP COLUMN lease_owner;
ALTER TABLE events DROP COLUMN dispatched_at;
