-- Outbox of notification emails (issue 4 item 6). Queueing is one INSERT in
-- the request; a background worker on any instance claims due rows, sends them
-- over SMTP and deletes them. due_at is when a row may next be claimed: the
-- time of its next attempt, or, while a worker holds it, the end of that
-- worker's lease (so a crashed worker's rows come back). attempts counts
-- claims and fences a worker whose lease ran out.
CREATE TABLE outbox (
    id         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    recipient  TEXT NOT NULL,
    subject    TEXT NOT NULL,
    body       TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    due_at     BIGINT NOT NULL,
    attempts   INTEGER NOT NULL DEFAULT 0,
    last_error TEXT NOT NULL DEFAULT ''
);
CREATE INDEX outbox_due ON outbox (due_at);
