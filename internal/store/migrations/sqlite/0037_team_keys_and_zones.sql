-- Whether each API key was made with a second factor (README "Teams"): by a
-- session that passed one, or by a key that was. A team that requires
-- two-factor refuses keys made without one. A key from before counts as made
-- with one when its account had an active factor confirmed before the first
-- key of its line was made (making a key then took an elevated session); a
-- key made by a key takes its maker's answer.
ALTER TABLE api_keys ADD COLUMN second_factor BOOLEAN NOT NULL DEFAULT FALSE;
UPDATE api_keys SET second_factor = TRUE WHERE id IN (
    WITH RECURSIVE line (id, account_id, made_at) AS (
        SELECT id, account_id, created_at FROM api_keys WHERE parent_id IS NULL
        UNION ALL
        SELECT k.id, line.account_id, line.made_at FROM api_keys k JOIN line ON k.parent_id = line.id
    )
    SELECT line.id FROM line WHERE EXISTS (SELECT 1 FROM factors f WHERE f.account_id = line.account_id
        AND f.status = 'active' AND f.confirmed_at IS NOT NULL AND f.confirmed_at < line.made_at)
);

-- A member who leaves or is removed from a team takes their zones along
-- (README "Teams"). Zones still shared with a team their owner left before
-- that stop being shared.
UPDATE dns_zones SET team_id = NULL WHERE team_id IS NOT NULL AND NOT EXISTS
    (SELECT 1 FROM team_members m WHERE m.team_id = dns_zones.team_id AND m.account_id = dns_zones.account_id);
