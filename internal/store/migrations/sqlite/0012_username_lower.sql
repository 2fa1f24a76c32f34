-- Usernames are ASCII and unique ignoring case: an account "ALICE" beside
-- "alice" could pass for it on the operator's pages and in notices. Account
-- creation checks with this index; it is not UNIQUE, so that a database that
-- already holds two such accounts still migrates.
CREATE INDEX accounts_username_lower ON accounts (LOWER(username));
