-- The operator whose action on another account (or on none) made an event,
-- whose address and user agent the event holds, so that closing the
-- operator's account scrubs that user agent as it does on the operator's
-- own events. Events recorded before this have none: the operator appears
-- only in the free text of their detail, which is not read back here.
ALTER TABLE audit_events ADD COLUMN actor_id TEXT NOT NULL DEFAULT '';
-- Only operators' events on other accounts have one: a small index, read
-- when an account is closed.
CREATE INDEX audit_events_actor ON audit_events (actor_id) WHERE actor_id <> '';
