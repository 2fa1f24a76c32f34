-- The session that started the setup of a pending TOTP or HOTP factor
-- (README "Adding an authenticator"): only that session, or one elevated
-- by a second factor, is shown the pending factor's secret (its setup page,
-- QR code) or may confirm it, so another session signed in with the
-- password alone cannot copy the key of the owner's first authenticator.
-- Empty when not known: factors set up before this migration, factors of
-- other types, and every factor once active (ActivateFactor clears it).
ALTER TABLE factors ADD COLUMN pending_session_id TEXT NOT NULL DEFAULT '';
