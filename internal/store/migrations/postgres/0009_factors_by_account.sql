-- SQLite's 0009 keys factors by (account_id, id) WITHOUT ROWID; PostgreSQL
-- has no such table form. Kept so that both dialects count the same
-- versions.
SELECT 1;
