-- Forms that make something once sent (an API key, an authenticator's
-- setup): each carries a one-time form token, and its first sending is
-- recorded here under the keyed hash of the token's random part, with
-- what it made (its id; '' while it is at work). A second sending of the
-- same form, such as a double click whose first answer the browser
-- dropped, finds the row and makes nothing (README "Forms sent twice").
-- A row lives as long as its token works, and no longer than its session.
CREATE TABLE form_uses (
    token_hash BYTEA PRIMARY KEY,
    session_id TEXT NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
    purpose    TEXT NOT NULL,
    made       TEXT NOT NULL DEFAULT '',
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX form_uses_session ON form_uses (session_id);
CREATE INDEX form_uses_expires ON form_uses (expires_at);
