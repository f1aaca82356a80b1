-- +goose Up
-- refresh_interrupted: a refresh may have reached the provider without its
-- answer being stored. AcquireLease and ClaimDue set it when they take over
-- a lease its holder never released (a killed or stalled process); the
-- refresher's next save records whether the provider has answered since
-- (tokenkeeper.Connection.RefreshInterrupted).
ALTER TABLE connections ADD COLUMN refresh_interrupted BOOLEAN NOT NULL DEFAULT FALSE;

-- +goose Down
ALTER TABLE connections DROP COLUMN refresh_interrupted;
