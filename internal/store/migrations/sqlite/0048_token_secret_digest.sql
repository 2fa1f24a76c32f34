-- A keyed hash of each imported token's secret (without the zero bytes at
-- its end, which HMAC adds anyway), kept when the token is claimed and its
-- sealed secret cleared: an import is refused when a token in it has the
-- secret of a token claimed before whose factor still exists, as it is
-- refused for one still unclaimed (README "Hardware tokens"). Tokens
-- imported before this have none, and are not compared once claimed.
ALTER TABLE hardware_tokens ADD COLUMN secret_digest BLOB;
