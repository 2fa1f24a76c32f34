-- A login that succeeded records the session it made, so that its second
-- step sent again (a double click without JavaScript, whose first answer,
-- the one holding the session's cookie, the browser dropped) ends that
-- session, which no browser holds, and says the code went through
-- (README "Web pages": core.EndLoginSentTwice). '' for logins finished
-- before, and for a login waiting for its second step.
ALTER TABLE logins ADD COLUMN session_id TEXT NOT NULL DEFAULT '';
