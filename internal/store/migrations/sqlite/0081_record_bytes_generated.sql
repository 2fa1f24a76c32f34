-- Each record's data size is computed by the database from the data itself,
-- whoever writes the row: 0076 filled a plain column once, which rows that
-- a release from before it wrote afterwards left at 0, so that the zone's
-- 4 MiB bound undercounted them for good (README "Upgrading"). The size is
-- the bytes of the data as Go counts them (len of the string: its UTF-8
-- bytes). SQLite adds only VIRTUAL generated columns to a table, and its
-- planner reads the table for an indexed virtual column, 4 MiB of a full
-- zone's data; an index on the expression itself is covering, and
-- RecordSetSizes sums that expression.
DROP INDEX dns_records_sizes;
ALTER TABLE dns_records DROP COLUMN data_bytes;
ALTER TABLE dns_records ADD COLUMN data_bytes BIGINT GENERATED ALWAYS AS (LENGTH(CAST(data AS BLOB))) VIRTUAL;
CREATE INDEX dns_records_sizes ON dns_records (zone, host, type, LENGTH(CAST(data AS BLOB)));
