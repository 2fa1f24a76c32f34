-- Hardware tokens whose seeds an operator imported (SPEC §2 HOTP: PSKC, OATH
-- CSV), waiting for their holders to claim them. The secret is sealed by the
-- keyring like a factor's, bound to the serial (AAD hardware_tokens.secret.
-- SERIAL). Claiming copies it into the new factor, sealed for the factor's
-- row, and clears it here in the same conditional UPDATE that sets
-- claimed_by: a token is claimed once, and its seed then lives only in its
-- factor. counter is the HOTP counter of the token's next code.
CREATE TABLE hardware_tokens (
    serial         TEXT PRIMARY KEY,
    manufacturer   TEXT NOT NULL DEFAULT '',
    type           TEXT NOT NULL,
    algorithm      TEXT NOT NULL,
    digits         INTEGER NOT NULL,
    period_seconds INTEGER NOT NULL,
    counter        BIGINT NOT NULL,
    secret_key_id  TEXT REFERENCES data_keys(id),
    secret         BYTEA,
    imported_at    BIGINT NOT NULL,
    claimed_by     TEXT,
    claimed_at     BIGINT
);
CREATE INDEX hardware_tokens_key ON hardware_tokens (secret_key_id);
