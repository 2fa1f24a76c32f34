-- SSH public keys registered as a way back in when the authenticators are
-- lost (SPEC §1 story 4): a challenge signed with one by ssh-keygen -Y sign
-- passes the second step. A key is pending until a signature over a
-- challenge proves its holder has the private key.
CREATE TABLE ssh_keys (
    id           TEXT PRIMARY KEY,
    account_id   TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    label        TEXT NOT NULL,
    key_type     TEXT NOT NULL,
    fingerprint  TEXT NOT NULL,
    public_key   TEXT NOT NULL,
    status       TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    confirmed_at BIGINT,
    last_used_at BIGINT,
    UNIQUE (account_id, fingerprint)
);

-- The challenges waiting for a signature, one per scope (a login, a
-- session's elevation, a pending key): asking again replaces it. The text is
-- no secret, only the signature proves anything; a challenge is used by one
-- conditional DELETE, so of two answers exactly one wins, on any instance.
CREATE TABLE ssh_challenges (
    scope      TEXT PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    text       TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX ssh_challenges_expires ON ssh_challenges (expires_at);
