-- DNS zones and their records (SPEC §3 "DNS API"). A zone belongs to one
-- account; its name is unique on the server, lower case, without the
-- trailing dot. serial is the SOA serial, moved on in the transaction that
-- changes the zone's records. A record's data is its RDATA in canonical
-- presentation form, so that equal records are equal text and the primary
-- key keeps a record set free of duplicates.
CREATE TABLE dns_zones (
    name       TEXT PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    serial     BIGINT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX dns_zones_account ON dns_zones (account_id, name);

CREATE TABLE dns_records (
    zone TEXT NOT NULL REFERENCES dns_zones(name) ON DELETE CASCADE,
    host TEXT NOT NULL,
    type TEXT NOT NULL,
    ttl  BIGINT NOT NULL,
    data TEXT NOT NULL,
    PRIMARY KEY (zone, host, type, data)
);
