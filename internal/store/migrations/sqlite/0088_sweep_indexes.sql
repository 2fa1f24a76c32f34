-- Indexes by expiry for the tables the sweep deletes from that had none:
-- the sweep deletes in bounded batches (store.sweepBatch rows a
-- statement), and each batch finds its rows by expiry. Without an index a
-- batch of password resets or email changes read the whole table, once
-- per batch. API keys are swept too now, a retention period after they
-- expire (README "API keys for scripts"); unexpiring keys (expires_at 0)
-- are never in the range the sweep reads.
CREATE INDEX password_resets_expires ON password_resets (expires_at);
CREATE INDEX email_changes_expires ON email_changes (expires_at);
CREATE INDEX api_keys_expires ON api_keys (expires_at);
