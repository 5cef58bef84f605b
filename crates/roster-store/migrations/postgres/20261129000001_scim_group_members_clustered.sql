-- Every read of a User reads its Groups through the member index on scim_user_id; with
-- the group id in the index too, that read needs no visit to each member row.
DROP INDEX scim_group_members_user;
CREATE INDEX scim_group_members_user ON scim_group_members(scim_user_id, group_id);
