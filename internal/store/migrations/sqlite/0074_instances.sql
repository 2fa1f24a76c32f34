-- Every serving instance's heartbeat (README "Backup and restore"): a row
-- per `twofold serve`, written when it starts and every few seconds while
-- it runs, removed when it stops cleanly. `twofold restore` refuses while
-- any row was seen lately, whether or not the instance holds a connection
-- at that moment. Times are the database's clock (unix microseconds), so
-- that the instances' clocks do not matter. beat_xid is, on PostgreSQL,
-- the transaction id (its low 32 bits) that wrote the beat, which is the
-- row's xmin only when a server wrote it: a row that pg_restore copied in
-- from a dump has pg_restore's, and is not counted. 0 on SQLite.
CREATE TABLE instances (
    id         TEXT PRIMARY KEY,
    host       TEXT NOT NULL,
    pid        BIGINT NOT NULL,
    started_at BIGINT NOT NULL,
    last_seen  BIGINT NOT NULL,
    beat_xid   BIGINT NOT NULL DEFAULT 0
);
