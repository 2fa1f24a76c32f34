-- A code mail names the code or link it carries (README "Notifications"):
-- a sent code (code_key the factor, code_scope its scope), a password-reset
-- link (code_key the link's id) or an email-change code (code_key the
-- account), with its keyed hash as stored there. A worker claims such a mail
-- only to send it while that code is stored, unexpired and unused; one that
-- was used, replaced or voided (an account closed or suspended, a factor
-- removed) is dropped unsent. Mails queued before have code_kind '' and go
-- as before, until their discard_at.
ALTER TABLE outbox ADD COLUMN code_kind TEXT NOT NULL DEFAULT '';
ALTER TABLE outbox ADD COLUMN code_key TEXT NOT NULL DEFAULT '';
ALTER TABLE outbox ADD COLUMN code_scope TEXT NOT NULL DEFAULT '';
ALTER TABLE outbox ADD COLUMN code_hash BYTEA;

-- A code mail's recipient is sealed like its body (AES-256-GCM under data
-- key recipient_key_id, bound to the row's seal_ref), so that the address
-- of an email factor, stored sealed in its factor's row, is not written to
-- the outbox in the clear; such a row's recipient is ''. Rows queued before
-- keep their recipient in the clear and are sent to it.
ALTER TABLE outbox ADD COLUMN recipient_key_id TEXT NOT NULL DEFAULT '';
ALTER TABLE outbox ADD COLUMN sealed_recipient BYTEA;
