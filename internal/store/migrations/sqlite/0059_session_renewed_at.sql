-- When a session's token was last replaced by a renewal (the pages give a
-- session a new cookie token as it is elevated), in microseconds; 0 when it
-- never was. A page asked for with the token from before the renewal
-- shortly after it is a browser that dropped the renewal's answer (a form
-- sent twice): that session is ended, and the page says why (README
-- "How two-factor behaves"). Sessions renewed before this have 0.
ALTER TABLE sessions ADD COLUMN renewed_at BIGINT NOT NULL DEFAULT 0;
