-- Push approval (SPEC §2): a push factor's device, known first by a keyed
-- hash of its one-time enrolment token, then by its Ed25519 public key
-- (public: no need to seal it). The key is set by one conditional UPDATE
-- that needs the token's hash, an unexpired token and no key yet.
CREATE TABLE push_devices (
    factor_id        TEXT PRIMARY KEY REFERENCES factors(id) ON DELETE CASCADE,
    account_id       TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    enrol_hash       BLOB,
    enrol_challenge  TEXT NOT NULL,
    enrol_expires_at BIGINT NOT NULL,
    public_key       BLOB,
    enrolled_at      BIGINT
);

-- Requests to approve a sign-in or an elevation. status moves from
-- pending only once, by one conditional UPDATE (the device's answer, or a
-- newer challenge of the same scope); an approved one is used once by the
-- second step, again by one conditional UPDATE. The number to match is
-- kept only as a keyed hash.
CREATE TABLE push_challenges (
    id          TEXT PRIMARY KEY,
    factor_id   TEXT NOT NULL REFERENCES factors(id) ON DELETE CASCADE,
    account_id  TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    scope       TEXT NOT NULL,
    number_hash BLOB NOT NULL,
    status      TEXT NOT NULL,
    source      TEXT NOT NULL DEFAULT '',
    user_agent  TEXT NOT NULL DEFAULT '',
    created_at  BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL,
    answered_at BIGINT,
    cause       TEXT NOT NULL DEFAULT ''
);
CREATE INDEX push_challenges_factor ON push_challenges (factor_id, status);
CREATE INDEX push_challenges_account ON push_challenges (account_id, scope);
CREATE INDEX push_challenges_expires ON push_challenges (expires_at);

-- Nonces of the signed requests devices made, kept until their timestamps
-- are too old to be accepted anyway: a request is taken by one INSERT, so a
-- replayed one finds its nonce there and is refused.
CREATE TABLE push_nonces (
    factor_id  TEXT NOT NULL REFERENCES factors(id) ON DELETE CASCADE,
    nonce      TEXT NOT NULL,
    expires_at BIGINT NOT NULL,
    PRIMARY KEY (factor_id, nonce)
);
CREATE INDEX push_nonces_expires ON push_nonces (expires_at);
