-- Each record's data size in bytes, and an index of the zone's names,
-- types and sizes without the data, so that a write to a zone checks the
-- zone's sizes and the names and types of its other records without
-- reading their data (core.Service.changeRecords; README "DNS API").
ALTER TABLE dns_records ADD COLUMN data_bytes BIGINT NOT NULL DEFAULT 0;
UPDATE dns_records SET data_bytes = OCTET_LENGTH(data);
CREATE INDEX dns_records_sizes ON dns_records (zone, host, type, data_bytes);
