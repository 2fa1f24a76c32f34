-- When an operator last changed the account's email address (README
-- "Operator API"), NULL when none has: shown on the operator's page of the
-- account and in GET /v1/admin/users/{id}. Kept for good, unlike the
-- replaced addresses themselves (replaced_emails), which go after a while.
ALTER TABLE accounts ADD COLUMN email_changed_by_operator_at BIGINT;
-- The changes made before: an operator's change of address is recorded as
-- account.email_changed by_operator, and the address it replaced, when
-- there was one, may still be kept.
UPDATE accounts SET email_changed_by_operator_at = (
    SELECT MAX(at) FROM (
        SELECT e.at FROM audit_events e
            WHERE e.account_id = accounts.id AND e.type = 'account.email_changed' AND e.by_operator
        UNION ALL
        SELECT r.replaced_at FROM replaced_emails r WHERE r.account_id = accounts.id
    ) AS changes);
