-- Links to choose a new password when the old one is forgotten: one per
-- account at most (a new request replaces the old link), found by id, the
-- first part of the mailed token; only the token's keyed hash is kept.
CREATE TABLE password_resets (
    account_id TEXT PRIMARY KEY REFERENCES accounts(id) ON DELETE CASCADE,
    id         TEXT NOT NULL UNIQUE,
    token_hash BYTEA NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
