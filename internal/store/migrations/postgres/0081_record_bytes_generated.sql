-- Each record's data size is computed by the database from the data itself,
-- whoever writes the row: 0076 filled a plain column once, which rows that
-- a release from before it wrote afterwards left at 0, so that the zone's
-- 4 MiB bound undercounted them for good (README "Upgrading"). The bytes
-- of the data as Go counts them (len of the string: its UTF-8 bytes, the
-- database's encoding). Dropping the column drops its index, made again.
ALTER TABLE dns_records DROP COLUMN data_bytes;
ALTER TABLE dns_records ADD COLUMN data_bytes BIGINT GENERATED ALWAYS AS (OCTET_LENGTH(data)) STORED;
CREATE INDEX dns_records_sizes ON dns_records (zone, host, type, data_bytes);
