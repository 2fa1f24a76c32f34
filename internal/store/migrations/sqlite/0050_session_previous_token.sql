-- The hash of the token a session had before its last renewal (the pages
-- give a session a new cookie token as it is elevated). It opens nothing:
-- only signing out with it is taken, so that a sign-out sent with the old
-- cookie while the renewal ran still ends the session it was sent for
-- (README "Signing out"). Sessions renewed before this have none.
ALTER TABLE sessions ADD COLUMN previous_token_hash BLOB;
