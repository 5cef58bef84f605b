-- Every read of a User reads its Groups through the member index on scim_user_id. As a
-- table clustered on its key (WITHOUT ROWID), that index carries the group id itself:
-- no lookup of each member row. Adding a member also writes two b-trees instead of
-- three (no separate rowid table beside the key).
CREATE TABLE scim_group_members_clustered (
    group_id     TEXT NOT NULL REFERENCES scim_groups(id) ON DELETE CASCADE,
    scim_user_id TEXT NOT NULL REFERENCES scim_users(id) ON DELETE CASCADE,
    PRIMARY KEY (group_id, scim_user_id)
) WITHOUT ROWID;
INSERT INTO scim_group_members_clustered (group_id, scim_user_id)
    SELECT group_id, scim_user_id FROM scim_group_members;
DROP TABLE scim_group_members;
ALTER TABLE scim_group_members_clustered RENAME TO scim_group_members;
CREATE INDEX scim_group_members_user ON scim_group_members(scim_user_id);
