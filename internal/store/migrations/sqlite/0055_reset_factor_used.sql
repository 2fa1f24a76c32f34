-- When a second factor of the account passed a check while its reset of
-- two-factor waited (factor_used_at, NULL while none has): the reset is
-- then withdrawn when it falls due. Recorded on the reset itself, in the
-- transaction of the check, so that removing the factor, the SSH key or
-- the used recovery codes afterwards cannot erase it.
ALTER TABLE two_factor_resets ADD COLUMN factor_used_at BIGINT;
