-- The session a login made, on its login.succeeded event (and the session a
-- password change continues with, on password.changed): an account's
-- sessions are found through its events, by the account index events have
-- already, rather than by an index of sessions by account that every login
-- would have to write (see 0010).
ALTER TABLE audit_events ADD COLUMN session_id TEXT;
