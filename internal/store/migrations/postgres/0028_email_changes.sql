-- A change of an account's email address waits here until a code mailed to
-- the new address comes back (SPEC §1 story 5): one per account, a new
-- request replaces it. Only the code's keyed hash is kept; checks_left
-- counts the wrong codes it may still take.
CREATE TABLE email_changes (
    account_id  TEXT PRIMARY KEY REFERENCES accounts(id) ON DELETE CASCADE,
    email       TEXT NOT NULL,
    code_hash   BYTEA NOT NULL,
    checks_left INTEGER NOT NULL,
    created_at  BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL
);
