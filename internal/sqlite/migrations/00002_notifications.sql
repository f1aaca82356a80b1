-- Notifications: the outbox events gain a dispatch lease; in-app
-- notifications and deliveries (e-mail, webhook, chat) are what the notifier
-- makes of them. Same conventions as 00001: INTEGER unix milliseconds, NULL
-- for "no time", STRICT tables.

-- +goose Up
ALTER TABLE events ADD COLUMN dispatched_at INTEGER; -- NULL: not dispatched yet
ALTER TABLE events ADD COLUMN lease_owner TEXT;
ALTER TABLE events ADD COLUMN lease_until INTEGER;
-- The dispatcher's claim reads undispatched events only.
CREATE INDEX events_undispatched ON events (seq) WHERE dispatched_at IS NULL;

CREATE TABLE notifications (
    seq            INTEGER PRIMARY KEY AUTOINCREMENT,
    id             TEXT    NOT NULL UNIQUE,
    event_id       TEXT    NOT NULL UNIQUE, -- one in-app notification per event
    user_id        TEXT    NOT NULL,
    connection_id  TEXT    NOT NULL DEFAULT '',
    provider       TEXT    NOT NULL DEFAULT '',
    type           TEXT    NOT NULL,
    message        TEXT    NOT NULL,
    created_at     INTEGER NOT NULL,
    read_at        INTEGER,
    digest_pending INTEGER NOT NULL DEFAULT 0
) STRICT;
CREATE INDEX notifications_user ON notifications (user_id, seq);
CREATE INDEX notifications_digest ON notifications (user_id, created_at) WHERE digest_pending = 1;

CREATE TABLE deliveries (
    seq             INTEGER PRIMARY KEY AUTOINCREMENT,
    id              TEXT    NOT NULL UNIQUE,
    dedup_key       TEXT    NOT NULL UNIQUE, -- "<event id>:<channel>[:<target>]"
    event_id        TEXT    NOT NULL DEFAULT '',
    channel         TEXT    NOT NULL,
    target          TEXT    NOT NULL DEFAULT '',
    user_id         TEXT    NOT NULL DEFAULT '',
    payload         BLOB    NOT NULL,
    status          TEXT    NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER,
    last_error      TEXT    NOT NULL DEFAULT '',
    lease_owner     TEXT,
    lease_until     INTEGER,
    created_at      INTEGER NOT NULL,
    retried_at      INTEGER,
    updated_at      INTEGER NOT NULL,
    delivered_at    INTEGER
) STRICT;
-- The worker's claim reads pending deliveries only, by due time.
CREATE INDEX deliveries_due ON deliveries (next_attempt_at) WHERE status = 'pending';
CREATE INDEX deliveries_status ON deliveries (status, seq);

-- +goose Down
DROP TABLE deliveries;
DROP TABLE notifications;
DROP INDEX events_undispatched;
ALTER TABLE events DROP COLUMN lease_until;
ALTER TABLE events DROP COLUMN lease_owner;
ALTER TABLE events DROP COLUMN dispatched_at;
