-- API keys for scripts (SPEC §1 story 6). Only a keyed hash of a key's
-- secret is kept. A key made by another key goes with its maker when that
-- is revoked, so a leaked key cannot leave keys behind it. Permits are a
-- JSON array of {"service","resource","actions"}, checked by internal/permit.
CREATE TABLE api_keys (
    id           TEXT PRIMARY KEY,
    account_id   TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    parent_id    TEXT REFERENCES api_keys(id) ON DELETE CASCADE,
    name         TEXT NOT NULL,
    secret_hash  BYTEA NOT NULL,
    permits      TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    expires_at   BIGINT NOT NULL DEFAULT 0,
    last_used_at BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX api_keys_account ON api_keys (account_id);
CREATE INDEX api_keys_parent ON api_keys (parent_id);

-- Short-lived bearer tokens that a key exchanges its secret for (POST
-- /v1/token, OAuth 2.0 client credentials), found by their ID and checked
-- by a keyed hash like sessions.
CREATE TABLE api_tokens (
    id         TEXT PRIMARY KEY,
    key_id     TEXT NOT NULL REFERENCES api_keys(id) ON DELETE CASCADE,
    token_hash BYTEA NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX api_tokens_key ON api_tokens (key_id);
CREATE INDEX api_tokens_expires ON api_tokens (expires_at);
