-- Tokens by the keyed hash of their secret: an import checks each of its
-- tokens' digests against the tokens stored, in its own transaction, so
-- that two imports at once of one seed under two serials cannot both pass
-- (store.ImportTokens); without the index each check would read every
-- token.
CREATE INDEX hardware_tokens_digest ON hardware_tokens (secret_digest);
