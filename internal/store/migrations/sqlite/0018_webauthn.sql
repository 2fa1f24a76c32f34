-- Security keys (SPEC §2 "security key", WebAuthn). A webauthn factor keeps
-- its credential here once its registration is confirmed; the factor row
-- holds the label and status like any other. credential_id is unique on the
-- server: a key registered to one account cannot be registered again
-- (WebAuthn §7.1 step 26). sign_count only moves forward, by a conditional
-- UPDATE; flags are the authenticator data flags last seen (UP, UV, BE, BS).
CREATE TABLE webauthn_credentials (
    factor_id          TEXT PRIMARY KEY REFERENCES factors(id) ON DELETE CASCADE,
    account_id         TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    credential_id      BLOB NOT NULL UNIQUE,
    public_key         BLOB NOT NULL,
    sign_count         BIGINT NOT NULL DEFAULT 0,
    aaguid             BLOB NOT NULL,
    transports         TEXT NOT NULL DEFAULT '',
    flags              INTEGER NOT NULL DEFAULT 0,
    attestation_type   TEXT NOT NULL DEFAULT '',
    attestation_format TEXT NOT NULL DEFAULT ''
);
CREATE INDEX webauthn_credentials_account ON webauthn_credentials (account_id);

-- WebAuthn ceremonies begun and not finished: the challenge and the relying
-- party's session data, in the database so that any instance finishes what
-- another began. One per scope (a factor's registration, a login, a
-- session's elevation): beginning again replaces it. Finishing deletes it by
-- one conditional DELETE on scope, account, challenge and expiry, so a
-- challenge is used once however many requests race.
CREATE TABLE webauthn_ceremonies (
    scope        TEXT PRIMARY KEY,
    account_id   TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    challenge    TEXT NOT NULL,
    session_data BLOB NOT NULL,
    created_at   BIGINT NOT NULL,
    expires_at   BIGINT NOT NULL
);
CREATE INDEX webauthn_ceremonies_expires ON webauthn_ceremonies (expires_at);
