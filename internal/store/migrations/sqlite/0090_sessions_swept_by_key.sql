-- Only the sweep read sessions by their expiry, and every sign-in paid for
-- the index with one more page written (about a quarter of a page for each
-- second step's commit on SQLite). Sessions are keyed by an ID that sorts
-- by the time they were made (migration 0007) and each lasts at least the
-- session lifetime, so the sweep walks that key from its start, a batch of
-- keys at a time, up to the IDs of sessions made one lifetime before it
-- runs (store.sweepSessions). PostgreSQL keeps its index: its writes of a
-- sign-in are not the limit there, and its sweep finds the expired rows by it.
DROP INDEX sessions_expires;
