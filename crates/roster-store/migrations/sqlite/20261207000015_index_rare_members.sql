-- The console filters an organization's members by role and state, in user id order
-- (its keyset paging). Owners, editors and deactivated members are few: these partial
-- indexes hold only them, so such a filter reads just the members it shows, and the
-- many plain active members that SCIM creates write no entry here. (Each index's
-- condition is the very term the query writes, so both planners can prove it holds.)
CREATE INDEX memberships_org_owners ON memberships(organization_id, user_id) WHERE role = 'owner';
CREATE INDEX memberships_org_editors ON memberships(organization_id, user_id) WHERE role = 'editor';
CREATE INDEX memberships_org_deactivated ON memberships(organization_id, user_id) WHERE state = 'deactivated';
