-- Signing an account out everywhere (a password change does) moves its
-- session epoch on by one. A login carries the epoch of the account as its
-- password was checked, a session the epoch of its login (or of the account,
-- for a password-only one), and a session authenticates only while its
-- epoch is the account's. A counter, not a time: nothing depends on the
-- clocks of the instances agreeing, and a login that read the account just
-- before the change still ends up with a session that does not work. One
-- column read with the account on every authenticated request, instead of
-- an index of sessions by account that every login would write (see 0010).
ALTER TABLE accounts ADD COLUMN session_epoch BIGINT NOT NULL DEFAULT 0;
ALTER TABLE logins ADD COLUMN session_epoch BIGINT NOT NULL DEFAULT 0;
ALTER TABLE sessions ADD COLUMN session_epoch BIGINT NOT NULL DEFAULT 0;
