-- A factor may hold a sent code per scope (a login, a session's elevation,
-- a password reset, its confirmation): a code sent for one no longer
-- replaces the one sent for another, so that whoever knows the password
-- cannot void its holder's elevation code by asking for a sign-in code to
-- the same phone. A resend for the same scope still replaces its code.
ALTER TABLE sent_codes DROP CONSTRAINT sent_codes_pkey;
ALTER TABLE sent_codes ADD PRIMARY KEY (factor_id, scope);
