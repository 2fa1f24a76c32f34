-- Throttling state shared by every instance: consecutive-failure slots and
-- per-address token buckets.
CREATE TABLE throttles (
    key          TEXT PRIMARY KEY,
    failures     INTEGER NOT NULL,
    locked_until BIGINT NOT NULL,
    updated_at   BIGINT NOT NULL
);

CREATE TABLE rate_buckets (
    key        TEXT PRIMARY KEY,
    tokens     DOUBLE PRECISION NOT NULL,
    updated_at BIGINT NOT NULL
);
