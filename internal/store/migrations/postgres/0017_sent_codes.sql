-- One-time codes sent by text message or email (SPEC §2 "SMS code", "email
-- code"). Only a keyed hash of a code is kept, one per factor: sending
-- another replaces it. A code is good for one scope (a login, a session's
-- elevation, or confirming the factor) until expires_at and for checks_left
-- more checks; each check takes one by a conditional UPDATE, and the right
-- code is used by a conditional DELETE, so of two checks exactly one wins.
CREATE TABLE sent_codes (
    factor_id   TEXT PRIMARY KEY REFERENCES factors(id) ON DELETE CASCADE,
    account_id  TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    method      TEXT NOT NULL,
    scope       TEXT NOT NULL,
    code_hash   BYTEA NOT NULL,
    checks_left INTEGER NOT NULL,
    created_at  BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL
);
CREATE INDEX sent_codes_account ON sent_codes (account_id, scope);
CREATE INDEX sent_codes_expires ON sent_codes (expires_at);

-- A code mail waits in the outbox sealed (AES-256-GCM under data key
-- body_key_id, bound to the row's seal_ref), so that no code is ever
-- written to the database in the clear; and it is dropped once discard_at
-- has passed (0: never), when the code in it no longer works.
ALTER TABLE outbox ADD COLUMN body_key_id TEXT NOT NULL DEFAULT '';
ALTER TABLE outbox ADD COLUMN seal_ref TEXT NOT NULL DEFAULT '';
ALTER TABLE outbox ADD COLUMN sealed_body BYTEA;
ALTER TABLE outbox ADD COLUMN discard_at BIGINT NOT NULL DEFAULT 0;
