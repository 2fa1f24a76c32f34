-- Two-factor resets that operators asked for, waiting until they are due
-- (SPEC §1 story 4). One per account: asking again while one waits is a
-- conflict. A reset leaves this table when it is cancelled or carried out,
-- by one conditional DELETE, so that of several instances exactly one
-- carries it out.
CREATE TABLE two_factor_resets (
    account_id   TEXT PRIMARY KEY REFERENCES accounts(id) ON DELETE CASCADE,
    requested_by TEXT NOT NULL,
    requested_at BIGINT NOT NULL,
    due_at       BIGINT NOT NULL
);
CREATE INDEX two_factor_resets_due ON two_factor_resets (due_at);
