-- Usernames unique ignoring case in the index itself, not only by account
-- creation's check (which two concurrent creations on PostgreSQL, under READ
-- COMMITTED, could both pass: "alice" and "ALICE"). A database that holds
-- names differing only in case from before migration 0012 still migrates:
-- those accounts are marked case_twin and left out of the index (they sign
-- in by their exact names, README "Signing in"); every account made after
-- is in it, and account creation's check keeps a new name off theirs.
ALTER TABLE accounts ADD COLUMN case_twin BOOLEAN NOT NULL DEFAULT FALSE;
UPDATE accounts SET case_twin = TRUE WHERE LOWER(username) IN
    (SELECT LOWER(username) FROM accounts GROUP BY LOWER(username) HAVING COUNT(*) > 1);
CREATE UNIQUE INDEX accounts_username_fold ON accounts (LOWER(username)) WHERE NOT case_twin;
