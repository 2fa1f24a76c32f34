-- A factor's secret must be sealed under a data key that exists: an insert
-- under a data key that key rotation has just deleted fails instead of
-- storing a secret nobody can open later.
ALTER TABLE factors ADD CONSTRAINT factors_secret_key_fk FOREIGN KEY (secret_key_id) REFERENCES data_keys (id);
