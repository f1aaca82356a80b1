-- +goose Up
-- Statistics for the metrics and the admin overview (internal/postgres/stats.go).
--
-- refresh_attempts_at: the attempts of a time range are found without
-- reading the whole history.
-- connections_status_provider_expiry: the connected connections expiring
-- before a time are counted per provider from the index alone.
-- refresh_stats: hourly totals of refresh attempts by provider and class,
-- written once per closed UTC hour (refresh_stats_hours lists the hours
-- done, and its primary key makes one replica do each hour), so that a
-- chart of the last week does not count a week of rows.
CREATE INDEX refresh_attempts_at ON refresh_attempts (at);
CREATE INDEX connections_status_provider_expiry ON connections (status, provider, expires_at);

CREATE TABLE refresh_stats (
    hour     TIMESTAMPTZ NOT NULL,
    provider TEXT NOT NULL,
    class    TEXT NOT NULL,
    count    BIGINT NOT NULL,
    PRIMARY KEY (hour, provider, class)
);

CREATE TABLE refresh_stats_hours (
    hour TIMESTAMPTZ PRIMARY KEY
);

-- +goose Down
DROP TABLE refresh_stats_hours;
DROP TABLE refresh_stats;
DROP INDEX connections_status_provider_expiry;
DROP INDEX refresh_attempts_at;
