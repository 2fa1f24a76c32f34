-- When a code was checked against a TOTP or HOTP factor whose secret, under
-- a data key that is held, did not decrypt (damaged): such a factor is then
-- listed as unavailable without opening its secret on every list
-- (core keyMissing). NULL while none was found.
ALTER TABLE factors ADD COLUMN damaged_at BIGINT;
