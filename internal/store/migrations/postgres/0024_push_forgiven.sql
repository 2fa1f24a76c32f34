-- An operator's unlock forgives the push denials before it (README "Push
-- bombing"): they stay, for the cause of a failed second step, but no
-- longer count towards pausing pushes, so that one more denial after an
-- unlock does not pause them again at once.
ALTER TABLE push_challenges ADD COLUMN forgiven BOOLEAN NOT NULL DEFAULT FALSE;
