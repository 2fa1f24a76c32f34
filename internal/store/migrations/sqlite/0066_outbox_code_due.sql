-- Code mails (discard_at set: sign-in and confirmation codes, reset links)
-- are claimed before notices, so that a code never waits behind a queue of
-- notices until it expires: this index finds the due ones without reading
-- the notices.
CREATE INDEX outbox_code_due ON outbox (due_at) WHERE discard_at <> 0;
