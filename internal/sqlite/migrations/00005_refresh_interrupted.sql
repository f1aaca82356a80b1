-- refresh_interrupted (0 or 1): a refresh may have reached the provider
-- without its answer being stored. AcquireLease and ClaimDue set it when
-- they take over a lease its holder never released (a killed or stalled
-- process); the refresher's next save records whether the provider has
-- answered since (tokenkeeper.Connection.RefreshInterrupted).

-- +goose Up
ALTER TABLE connections ADD COLUMN refresh_interrupted INTEGER NOT NULL DEFAULT 0;

-- +goose Down
ALTER TABLE connections DROP COLUMN refresh_interrupted;
