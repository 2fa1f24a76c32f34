-- The second step of every login reads an account's factors and updates one
-- of them (issue 6). As a rowid table, reading went through factors_account
-- and then the table, and the update through the id's index and then the
-- table. Keyed by (account_id, id) WITHOUT ROWID, an account's factors lie
-- together in the table's own B-tree: the read and the update each take one
-- B-tree. A factor is still found by its id alone through a unique index.
CREATE TABLE factors_by_account (
    id             TEXT NOT NULL UNIQUE,
    account_id     TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    type           TEXT NOT NULL,
    label          TEXT NOT NULL,
    status         TEXT NOT NULL,
    secret_key_id  TEXT NOT NULL REFERENCES data_keys(id),
    secret         BLOB NOT NULL,
    algorithm      TEXT NOT NULL,
    digits         INTEGER NOT NULL,
    period_seconds INTEGER NOT NULL,
    last_step      BIGINT NOT NULL DEFAULT -1,
    drift          BIGINT NOT NULL DEFAULT 0,
    created_at     BIGINT NOT NULL,
    confirmed_at   BIGINT,
    last_used_at   BIGINT,
    PRIMARY KEY (account_id, id)
) WITHOUT ROWID;
INSERT INTO factors_by_account (id, account_id, type, label, status, secret_key_id, secret, algorithm, digits,
    period_seconds, last_step, drift, created_at, confirmed_at, last_used_at)
    SELECT id, account_id, type, label, status, secret_key_id, secret, algorithm, digits,
    period_seconds, last_step, drift, created_at, confirmed_at, last_used_at FROM factors;
DROP TABLE factors;
ALTER TABLE factors_by_account RENAME TO factors;
