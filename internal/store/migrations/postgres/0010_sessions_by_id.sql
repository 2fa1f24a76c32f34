-- Sessions are only ever found by their ID (the token's first part): no
-- query looks them up by account. The index on their account cost every
-- login one more random page to write (issue 6: on SQLite about a quarter of
-- the write-ahead log's frames of a second step). Deleting an account row
-- directly would still remove its sessions (ON DELETE CASCADE), by a scan of
-- the table, as it already does for logins. A feature that lists or revokes
-- an account's sessions brings an index back with it.
DROP INDEX sessions_account;
