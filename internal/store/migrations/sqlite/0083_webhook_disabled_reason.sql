-- Why a webhook was disabled (README "Webhooks"): failing (it failed too
-- long), owner-not-operator, key-revoked or key-expired; '' while it is
-- on. last_error stays the class of its last failed delivery, which the
-- disabling used to overwrite with its own reason: a webhook disabled for
-- a reason other than failing takes that reason from last_error (whose
-- delivery failure was lost then), any other disabled one is failing.
ALTER TABLE webhooks ADD COLUMN disabled_reason TEXT NOT NULL DEFAULT '';
UPDATE webhooks SET disabled_reason = CASE WHEN last_error IN ('owner-not-operator', 'key-revoked', 'key-expired') THEN last_error ELSE 'failing' END
    WHERE disabled_at <> 0;
UPDATE webhooks SET last_error = '' WHERE last_error IN ('owner-not-operator', 'key-revoked', 'key-expired');
