-- A factor's secret must be sealed under a data key that exists: an insert
-- under a data key that key rotation has just deleted fails instead of
-- storing a secret nobody can open later. SQLite adds a foreign key only by
-- rebuilding the table.
CREATE TABLE factors_new (
    id             TEXT PRIMARY KEY,
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
    last_used_at   BIGINT
);
INSERT INTO factors_new SELECT id, account_id, type, label, status, secret_key_id, secret, algorithm, digits,
    period_seconds, last_step, drift, created_at, confirmed_at, last_used_at FROM factors;
DROP TABLE factors;
ALTER TABLE factors_new RENAME TO factors;
CREATE INDEX factors_account ON factors (account_id);
