-- Accounts, factors, recovery codes, paper keys, logins, sessions, data keys, audit.
-- Times are unix microseconds (BIGINT) in both dialects.
CREATE TABLE accounts (
    id                  TEXT PRIMARY KEY,
    username            TEXT NOT NULL UNIQUE,
    email               TEXT NOT NULL DEFAULT '',
    password_hash       TEXT NOT NULL,
    two_factor_required BOOLEAN NOT NULL DEFAULT FALSE,
    operator            BOOLEAN NOT NULL DEFAULT FALSE,
    created_at          BIGINT NOT NULL
);

CREATE TABLE factors (
    id             TEXT PRIMARY KEY,
    account_id     TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    type           TEXT NOT NULL,
    label          TEXT NOT NULL,
    status         TEXT NOT NULL,
    secret_key_id  TEXT NOT NULL,
    secret         BLOB NOT NULL,
    algorithm      TEXT NOT NULL,
    digits         INTEGER NOT NULL,
    period_seconds INTEGER NOT NULL,
    last_step      BIGINT NOT NULL DEFAULT -1,
    drift          BIGINT NOT NULL DEFAULT 0,
    created_at     BIGINT NOT NULL,
    confirmed_at   BIGINT,
    last_used_at   BIGINT
);
CREATE INDEX factors_account ON factors (account_id);

CREATE TABLE recovery_codes (
    account_id TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    code_hash  BLOB NOT NULL,
    created_at BIGINT NOT NULL,
    used_at    BIGINT,
    PRIMARY KEY (account_id, code_hash)
);

CREATE TABLE paper_keys (
    account_id TEXT PRIMARY KEY REFERENCES accounts(id) ON DELETE CASCADE,
    key_hash   BLOB NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE TABLE logins (
    id         TEXT PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at    BIGINT
);
CREATE INDEX logins_expires ON logins (expires_at);

CREATE TABLE sessions (
    token_hash     BLOB PRIMARY KEY,
    id             TEXT NOT NULL UNIQUE,
    account_id     TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    created_at     BIGINT NOT NULL,
    expires_at     BIGINT NOT NULL,
    elevated_until BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX sessions_account ON sessions (account_id);
CREATE INDEX sessions_expires ON sessions (expires_at);

CREATE TABLE data_keys (
    id         TEXT PRIMARY KEY,
    master_id  TEXT NOT NULL,
    wrapped    BLOB NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE TABLE audit_events (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    account_id TEXT NOT NULL DEFAULT '',
    type       TEXT NOT NULL,
    at         BIGINT NOT NULL,
    source     TEXT NOT NULL DEFAULT '',
    user_agent TEXT NOT NULL DEFAULT '',
    detail     TEXT NOT NULL DEFAULT ''
);
CREATE INDEX audit_events_account ON audit_events (account_id, id);
