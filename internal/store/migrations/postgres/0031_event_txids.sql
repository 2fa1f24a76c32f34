-- Webhooks (README "Webhooks") read the audit log in commit order, which on
-- PostgreSQL is not id order: an id is taken from a sequence before its
-- transaction commits, so a reader that has seen id 7 may later meet id 6.
-- Each event now carries the id of the transaction that wrote it (txid),
-- and a reader takes only events of transactions older than every
-- transaction still running (pg_snapshot_xmin), in (txid, id) order.
--
-- So that the reader can bound its scan by id (no index on txid, which
-- every login's event would have to update), an event's id is taken only
-- after its transaction has an id of its own: the CASE asks for the
-- transaction id first. Then every id a reader sees allocated in the
-- sequence belongs to a transaction whose id it can see too.
LOCK TABLE audit_events IN ACCESS EXCLUSIVE MODE;
CREATE SEQUENCE audit_events_seq AS BIGINT;
SELECT setval('audit_events_seq', (SELECT COALESCE(MAX(id), 0) + 1 FROM audit_events), false);
ALTER TABLE audit_events ALTER COLUMN id DROP IDENTITY;
ALTER SEQUENCE audit_events_seq OWNED BY audit_events.id;
ALTER TABLE audit_events ALTER COLUMN id SET DEFAULT (CASE WHEN pg_current_xact_id() IS NOT NULL THEN nextval('audit_events_seq') END);
-- Events written before are older than any transaction to come: txid 0
-- (a constant default, so the table is not rewritten).
ALTER TABLE audit_events ADD COLUMN txid xid8 NOT NULL DEFAULT '0';
ALTER TABLE audit_events ALTER COLUMN txid SET DEFAULT pg_current_xact_id();
