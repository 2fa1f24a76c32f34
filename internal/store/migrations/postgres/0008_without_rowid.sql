-- SQLite's 0008 keys logins and throttles by their text keys alone (WITHOUT
-- ROWID); PostgreSQL has no such table form. Kept so that both dialects
-- count the same versions.
SELECT 1;
