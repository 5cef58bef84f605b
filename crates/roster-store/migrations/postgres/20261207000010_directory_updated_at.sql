-- The directory as apps read it (`/api/v1/directory`) pages by id and filters by
-- `updated_since`: teams keep when they were last renamed; a membership's `updated_at`
-- also moves when the member joins or leaves one of the organization's teams.
ALTER TABLE teams ADD COLUMN updated_at BIGINT NOT NULL DEFAULT 0;
UPDATE teams SET updated_at = created_at;
UPDATE memberships SET updated_at = COALESCE(
    (SELECT MAX(tm.created_at) FROM team_members tm JOIN teams t ON t.id = tm.team_id
     WHERE t.organization_id = memberships.organization_id AND tm.user_id = memberships.user_id
       AND tm.created_at > memberships.updated_at),
    updated_at);
