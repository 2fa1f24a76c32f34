-- A read of a zone's records through the DNS API takes them in pages, in
-- the order of host, type and data compared byte by byte (COLLATE "C"),
-- which is Go's and SQLite's order whatever collation the database was
-- created with. The primary key's index follows the database's collation;
-- this one serves each page from where the last one ended.
CREATE INDEX dns_records_bytewise ON dns_records (zone, host COLLATE "C", type COLLATE "C", data COLLATE "C");
