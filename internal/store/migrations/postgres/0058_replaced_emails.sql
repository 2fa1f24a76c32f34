-- Email addresses an operator replaced (README "When every way in is
-- lost: an operator's reset"). Someone who talks an operator into a new
-- address and then into a reset of two-factor would otherwise be the only
-- one told of the reset: while an address is kept here, every notice of a
-- reset of the account goes to it too. A row goes once it is older than the
-- keep (at least 30 days, and the reset delay plus 7 days) and no reset of
-- the account waits. Stored as accounts.email is; only an operator's change
-- is kept (a holder's own needs a code mailed to the new address).
CREATE TABLE replaced_emails (
    account_id  TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    email       TEXT NOT NULL,
    replaced_at BIGINT NOT NULL,
    PRIMARY KEY (account_id, email)
);
CREATE INDEX replaced_emails_at ON replaced_emails (replaced_at);
