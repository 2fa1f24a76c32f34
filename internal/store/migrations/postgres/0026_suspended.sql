-- An operator may suspend an account (README "Operator API"): it cannot
-- sign in, and its sessions and API keys stop working, until the
-- suspension is lifted.
ALTER TABLE accounts ADD COLUMN suspended BOOLEAN NOT NULL DEFAULT FALSE;
