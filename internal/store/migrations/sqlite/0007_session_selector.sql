-- A session token is now its session's ID, a dot and a secret: the ID finds
-- the row and the token's hash is compared with the stored one. The table is
-- keyed by the ID, which sorts by time, so a new session is written at the
-- end of the table instead of on a random page of a token-hash index (issue
-- 6). Tokens issued before this version carry no ID and can no longer be
-- found, so their sessions are dropped: everyone signs in again once.
DROP TABLE sessions;

CREATE TABLE sessions (
    id             TEXT PRIMARY KEY,
    token_hash     BLOB NOT NULL,
    account_id     TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    created_at     BIGINT NOT NULL,
    expires_at     BIGINT NOT NULL,
    elevated_until BIGINT NOT NULL DEFAULT 0
) WITHOUT ROWID;
CREATE INDEX sessions_account ON sessions (account_id);
CREATE INDEX sessions_expires ON sessions (expires_at);
