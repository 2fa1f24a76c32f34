-- SQLite's 0090 drops the index of sessions by expiry and sweeps sessions
-- by walking their key; PostgreSQL keeps the index and sweeps by it. Kept
-- so that both dialects count the same versions.
SELECT 1;
