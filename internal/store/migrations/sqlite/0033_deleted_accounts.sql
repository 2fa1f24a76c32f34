-- Closed accounts (README "Closing an account"). Deleting an account deletes
-- its row, and with it, by cascade, every row of its (factors, secrets,
-- sessions, keys, memberships ...); what stays is this tombstone and the
-- account's audit events. The tombstone keeps the username reserved, so that
-- nobody who signs up later inherits what still names it (a control panel's
-- records, audit searches, team histories). username_key is the name folded
-- to lower case, as accounts compare names.
CREATE TABLE deleted_accounts (
    account_id   TEXT PRIMARY KEY,
    username     TEXT NOT NULL,
    username_key TEXT NOT NULL,
    deleted_at   BIGINT NOT NULL
);
CREATE INDEX deleted_accounts_username ON deleted_accounts (username_key);
