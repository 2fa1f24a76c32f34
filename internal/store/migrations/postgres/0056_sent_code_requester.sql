-- A code sent for a login's second step or a session's elevation belongs
-- to whoever asked for it (README "SMS and email codes"): the send answers
-- a random code_secret that only the requester is given, requester_hash
-- keeps its keyed hash, and while the code lives a new send for the same
-- factor and scope needs that secret (a resend), so that nobody who knows
-- only a login id replaces the code the owner is typing. Codes sent before
-- have none and count as another requester's until they expire (10 minutes
-- at most); codes that confirm a factor or a password reset have none.
ALTER TABLE sent_codes ADD COLUMN requester_hash BYTEA;

-- A login's or an elevation's live security-key ceremony is answered again
-- to whoever asks for one, not replaced (README "Security keys"): the
-- assertion options it began with are kept beside it. Ceremonies begun
-- before have none, and are replaced as before.
ALTER TABLE webauthn_ceremonies ADD COLUMN options BYTEA;
