-- Webhooks: operators' endpoints that audit events are pushed to (README
-- "Webhooks"). The secret is sealed by the keyring, bound to its row. The
-- cursor (cursor_txid, cursor_id) is where delivery stands: every event
-- up to it in (txid, id) order is delivered; low_id bounds the reader's
-- scan by id, and pending_low_id becomes low_id once cursor_txid reaches
-- pending_xmax (see internal/store/webhooks.go). One instance delivers an
-- endpoint at a time: the one whose lease (lease_owner, lease_until) holds.
CREATE TABLE webhooks (
    id                TEXT PRIMARY KEY,
    url               TEXT NOT NULL,
    events            TEXT NOT NULL DEFAULT '',
    description       TEXT NOT NULL DEFAULT '',
    created_at        BIGINT NOT NULL,
    created_by        TEXT NOT NULL DEFAULT '',
    secret_key_id     TEXT NOT NULL,
    sealed_secret     BLOB NOT NULL,
    disabled_at       BIGINT NOT NULL DEFAULT 0,
    cursor_txid       BIGINT NOT NULL DEFAULT 0,
    cursor_id         BIGINT NOT NULL DEFAULT 0,
    low_id            BIGINT NOT NULL DEFAULT 0,
    pending_low_id    BIGINT NOT NULL DEFAULT 0,
    pending_xmax      BIGINT NOT NULL DEFAULT 0,
    lease_owner       TEXT NOT NULL DEFAULT '',
    lease_until       BIGINT NOT NULL DEFAULT 0,
    last_delivered_at BIGINT NOT NULL DEFAULT 0,
    last_attempt_at   BIGINT NOT NULL DEFAULT 0,
    last_error        TEXT NOT NULL DEFAULT '',
    failures          INTEGER NOT NULL DEFAULT 0,
    failing_since     BIGINT NOT NULL DEFAULT 0,
    next_attempt_at   BIGINT NOT NULL DEFAULT 0
);
