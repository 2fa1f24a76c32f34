-- The id of the last audit event stored when a session was stored (0 for
-- none): the event that made the session (login.succeeded or
-- password.changed, written after it) has a greater id whatever the
-- instances' clocks say, as ids come from the database. "Where you are
-- signed in" reads an account's events from the least floor of that
-- account's sessions that still work (found by sessions_account); sessions
-- stored before this have none, and are found, while they last, by the
-- search by time used before (README "Where you are signed in").
ALTER TABLE sessions ADD COLUMN event_floor BIGINT;
