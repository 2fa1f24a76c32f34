-- What an account's holder is not shown of the events an operator's
-- action recorded on their account (README "Audit log and operations"):
-- by_operator marks an event the operator's action made, whose source
-- address and user agent are the operator's; holder_detail is the detail
-- as the holder reads it when the detail names an operator ("by an
-- operator"), NULL when the holder reads the detail as it is.
ALTER TABLE audit_events ADD COLUMN by_operator BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE audit_events ADD COLUMN holder_detail TEXT;
-- The events recorded before: those of an operator's action are known by
-- their type and by how their detail names the operator ("by operator
-- carol"); the holder reads no more of their detail than that an operator
-- acted. GLOB, not LIKE: SQLite's LIKE ignores case, PostgreSQL's does
-- not, and the two dialects must pick the same events.
UPDATE audit_events SET by_operator = TRUE, holder_detail = 'by an operator'
    WHERE type = 'admin.key_refused'
    OR type IN ('account.created', 'account.suspended', 'account.unsuspended', 'account.unlocked',
        'session.ended_everywhere', 'two_factor.reset_requested', 'two_factor.reset_cancelled')
        AND detail GLOB 'by operator *'
    OR type = 'api_key.revoked' AND detail GLOB '*" by operator *'
    OR type = 'account.email_changed' AND detail GLOB '* by operator *';
UPDATE audit_events SET by_operator = TRUE
    WHERE type = 'two_factor.reset_cancelled' AND detail GLOB 'the account was suspended*';
-- A reset carried out at once recorded the requesting operator's address.
UPDATE audit_events SET by_operator = TRUE, holder_detail = 'requested by an operator'
    WHERE type = 'two_factor.reset' AND detail GLOB 'requested by operator *';
UPDATE audit_events SET holder_detail = 'by the command line, requested by an operator'
    WHERE type = 'two_factor.reset_cancelled' AND detail GLOB 'by the command line? it was requested by operator *';
UPDATE audit_events SET holder_detail = 'by the account holder, requested by an operator'
    WHERE type = 'two_factor.reset_cancelled' AND detail GLOB 'by the account holder? it was requested by operator *';
UPDATE audit_events SET holder_detail = 'withdrawn: a second factor was used after an operator requested it'
    WHERE type = 'two_factor.reset_cancelled' AND detail GLOB 'withdrawn: a second factor was used after operator *';
