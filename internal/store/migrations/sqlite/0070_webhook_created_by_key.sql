-- The API key that made a webhook, or last turned it on (README
-- "Webhooks"); NULL when an operator's session did. Not a foreign key: once
-- the key is revoked (its row deleted) the id stays, and delivery stops
-- (error class key-revoked), as it does once the key, or a key above it,
-- has expired (key-expired).
ALTER TABLE webhooks ADD COLUMN created_by_key TEXT;
