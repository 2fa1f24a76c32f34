-- First-run setup links (issue 5): the hash of each one-time token printed by
-- `twofold serve` on an empty database. They work only while no account exists.
CREATE TABLE setup_tokens (
    token_hash BLOB PRIMARY KEY,
    created_at BIGINT NOT NULL
);
