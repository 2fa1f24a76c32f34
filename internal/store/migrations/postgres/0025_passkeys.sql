-- Passkeys (README "Security keys (WebAuthn)", "Signing in with a passkey").
-- A webauthn factor enrolled as a passkey asks the authenticator for a
-- discoverable credential made with user verification; factors.passkey says
-- it was asked for, from enrolment on, so that a registration begun again
-- asks the same. The credential records what its registration showed:
-- discoverable (asked as required and not denied by the client's credProps)
-- and user_verified (the UV flag of its authenticator data). Only a
-- credential with both signs in without username and password.
ALTER TABLE factors ADD COLUMN passkey BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE webauthn_credentials ADD COLUMN discoverable BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE webauthn_credentials ADD COLUMN user_verified BOOLEAN NOT NULL DEFAULT FALSE;

-- Sign-ins with a passkey begun and not finished: the challenge and the
-- relying party's session data under a random id that only the client
-- holds; no account yet, since the assertion's user handle names it.
-- Finishing takes the row by one conditional DELETE on id and expiry, so a
-- challenge is used once however many requests race, on any instance.
CREATE TABLE passkey_logins (
    id           TEXT PRIMARY KEY,
    challenge    TEXT NOT NULL,
    session_data BYTEA NOT NULL,
    created_at   BIGINT NOT NULL,
    expires_at   BIGINT NOT NULL
);
CREATE INDEX passkey_logins_expires ON passkey_logins (expires_at);
