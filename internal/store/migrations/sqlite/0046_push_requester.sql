-- A push approval belongs to whoever asked for the push, not to whoever
-- first presents its login id or session token (README "Push approval"):
-- sending a push makes a random secret that only the requester is given,
-- and requester_hash keeps its keyed hash; using the approval needs the
-- secret. The challenges made before have none, and can no longer be used
-- (they expire within minutes): the push is sent again.
ALTER TABLE push_challenges ADD COLUMN requester_hash BLOB;
