-- Logins and throttles are only ever found by their text key. As rowid tables
-- each lookup went through the key's index and then the table; keyed by the
-- text itself (WITHOUT ROWID), the row is in the key's own B-tree, and the
-- second step of every login reads and writes one B-tree fewer for each
-- (issue 6).
CREATE TABLE logins_by_id (
    id         TEXT PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at    BIGINT
) WITHOUT ROWID;
INSERT INTO logins_by_id (id, account_id, created_at, expires_at, used_at)
    SELECT id, account_id, created_at, expires_at, used_at FROM logins;
DROP TABLE logins;
ALTER TABLE logins_by_id RENAME TO logins;
CREATE INDEX logins_expires ON logins (expires_at);

CREATE TABLE throttles_by_key (
    key          TEXT PRIMARY KEY,
    failures     INTEGER NOT NULL,
    locked_until BIGINT NOT NULL,
    updated_at   BIGINT NOT NULL
) WITHOUT ROWID;
INSERT INTO throttles_by_key (key, failures, locked_until, updated_at)
    SELECT key, failures, locked_until, updated_at FROM throttles;
DROP TABLE throttles;
ALTER TABLE throttles_by_key RENAME TO throttles;
