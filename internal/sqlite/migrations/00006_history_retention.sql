-- History retention (internal/sqlite/purge.go): PurgeHistory deletes old
-- rows in batches, each batch found through one of these indexes, so a
-- purge reads the rows it deletes, not the rows it keeps. refresh_attempts
-- is already indexed by time (refresh_attempts_at, 00004).
--
-- events_dispatched: dispatched events by the time they occurred; the
-- undispatched ones, which are never deleted, are not in it.
-- deliveries_finished: delivered and dead deliveries by their last update;
-- pending ones, which are never deleted, are not in it.
-- notifications_created: in-app notifications not waiting for a digest, by
-- creation time.
--
-- No foreign key refers to these tables (deliveries.event_id and
-- notifications.event_id are plain values), so they can be deleted in any
-- order.

-- +goose Up
CREATE INDEX events_dispatched ON events (occurred_at) WHERE dispatched_at IS NOT NULL;
CREATE INDEX deliveries_finished ON deliveries (updated_at) WHERE status IN ('delivered', 'dead');
CREATE INDEX notifications_created ON notifications (created_at) WHERE digest_pending = 0;

-- +goose Down
DROP INDEX notifications_created;
DROP INDEX deliveries_finished;
DROP INDEX events_dispatched;
