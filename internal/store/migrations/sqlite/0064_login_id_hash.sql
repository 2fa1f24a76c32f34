-- A pending login is stored under the keyed hash of the id its client
-- holds, never under that id, as sessions and tokens are (README "Security
-- at rest"): the database and its backups then hold nothing that carries a
-- login past its password. The logins stored before, under their clients' ids,
-- are voided with what is scoped by them: whoever was between the password
-- and the second step (5 minutes at most) signs in again. So are the
-- sign-ins with a passkey begun before, stored by their ids too.
DELETE FROM logins;
DELETE FROM passkey_logins;
DELETE FROM sent_codes WHERE scope LIKE 'login:%';
DELETE FROM webauthn_ceremonies WHERE scope LIKE 'login:%';
DELETE FROM ssh_challenges WHERE scope LIKE 'login:%';
-- A denied push request stays, still counted against push bombing (one per
-- scope), under a scope that names no login id.
DELETE FROM push_challenges WHERE scope LIKE 'login:%' AND status <> 'denied';
UPDATE push_challenges SET scope = 'login:voided-' || id WHERE scope LIKE 'login:%';
