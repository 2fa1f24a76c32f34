-- A factor may hold a sent code per scope (a login, a session's elevation,
-- a password reset, its confirmation): a code sent for one no longer
-- replaces the one sent for another, so that whoever knows the password
-- cannot void its holder's elevation code by asking for a sign-in code to
-- the same phone. A resend for the same scope still replaces its code.
-- SQLite changes a primary key only by rebuilding the table; the codes
-- already sent are kept.
CREATE TABLE sent_codes_by_scope (
    factor_id   TEXT NOT NULL REFERENCES factors(id) ON DELETE CASCADE,
    account_id  TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    method      TEXT NOT NULL,
    scope       TEXT NOT NULL,
    code_hash   BLOB NOT NULL,
    checks_left INTEGER NOT NULL,
    created_at  BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL,
    PRIMARY KEY (factor_id, scope)
);
INSERT INTO sent_codes_by_scope (factor_id, account_id, method, scope, code_hash, checks_left, created_at, expires_at)
    SELECT factor_id, account_id, method, scope, code_hash, checks_left, created_at, expires_at FROM sent_codes;
DROP TABLE sent_codes;
ALTER TABLE sent_codes_by_scope RENAME TO sent_codes;
CREATE INDEX sent_codes_account ON sent_codes (account_id, scope);
CREATE INDEX sent_codes_expires ON sent_codes (expires_at);
