-- Signing an account out everywhere (after a password change) moves this
-- time forward: a session created before it no longer authenticates. One
-- column on the account, read with it on every authenticated request, instead
-- of an index of sessions by account that every login would have to write
-- (see 0010).
ALTER TABLE accounts ADD COLUMN sessions_valid_from BIGINT NOT NULL DEFAULT 0;
