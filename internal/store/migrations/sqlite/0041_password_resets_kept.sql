-- An account may hold a few password-reset links at once: a new request no
-- longer replaces the links already mailed, so a stranger who knows a
-- username cannot void the link its holder is about to open by asking for
-- another. Links are keyed by id; the account's links are found by index.
-- SQLite drops a primary key only by rebuilding the table; the links
-- already mailed are kept.
CREATE TABLE password_resets_by_id (
    id         TEXT PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    token_hash BLOB NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
INSERT INTO password_resets_by_id (id, account_id, token_hash, created_at, expires_at)
    SELECT id, account_id, token_hash, created_at, expires_at FROM password_resets;
DROP TABLE password_resets;
ALTER TABLE password_resets_by_id RENAME TO password_resets;
CREATE INDEX password_resets_account ON password_resets (account_id);
