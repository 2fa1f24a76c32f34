-- An account may hold a few password-reset links at once: a new request no
-- longer replaces the links already mailed, so a stranger who knows a
-- username cannot void the link its holder is about to open by asking for
-- another. Links are keyed by id; the account's links are found by index.
-- The links already mailed are kept.
ALTER TABLE password_resets DROP CONSTRAINT password_resets_pkey;
ALTER TABLE password_resets DROP CONSTRAINT password_resets_id_key;
ALTER TABLE password_resets ALTER COLUMN account_id SET NOT NULL;
ALTER TABLE password_resets ADD PRIMARY KEY (id);
CREATE INDEX password_resets_account ON password_resets (account_id);
