-- Invitations to teams (SPEC §1 story 6): nobody becomes a member of a team
-- without accepting. username_key is the invitee's name folded to lower
-- case, one pending invitation per name and team; account_id is the account
-- of that name when one existed at invitation time, else NULL (such an
-- invitation reaches nobody and lapses, and looks like any other to the
-- team's managers, so that inviting tells them nothing of who has an
-- account).
CREATE TABLE team_invitations (
    id           TEXT PRIMARY KEY,
    team_id      TEXT NOT NULL REFERENCES teams(id) ON DELETE CASCADE,
    username     TEXT NOT NULL,
    username_key TEXT NOT NULL,
    account_id   TEXT REFERENCES accounts(id) ON DELETE CASCADE,
    role         TEXT NOT NULL,
    invited_by   TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    created_at   BIGINT NOT NULL,
    expires_at   BIGINT NOT NULL
);
CREATE UNIQUE INDEX team_invitations_name ON team_invitations (team_id, username_key);
CREATE INDEX team_invitations_account ON team_invitations (account_id);
CREATE INDEX team_invitations_inviter ON team_invitations (invited_by);
