-- The previous signing secret of a webhook, for a grace period after a
-- rotation (README "Webhooks"): sealed by the keyring, bound to its row
-- (column "previous_secret"), with the time until which deliveries still
-- carry its signature beside the new one. NULL and 0 when there is none;
-- cleared once expired.
ALTER TABLE webhooks ADD COLUMN previous_secret_key_id TEXT NOT NULL DEFAULT '';
ALTER TABLE webhooks ADD COLUMN previous_sealed_secret BYTEA;
ALTER TABLE webhooks ADD COLUMN previous_secret_until BIGINT NOT NULL DEFAULT 0;
