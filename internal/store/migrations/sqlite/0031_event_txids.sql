-- On PostgreSQL each event carries the id of the transaction that wrote it,
-- for the webhooks' reader (README "Webhooks"). SQLite has one writer, whose
-- transactions commit in the order they take event ids: id order is commit
-- order, and txid stays 0.
ALTER TABLE audit_events ADD COLUMN txid BIGINT NOT NULL DEFAULT 0;
