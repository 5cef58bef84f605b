-- A member row's reference to its Group is checked at commit, not at insert. Member
-- changes of one Group run side by side, each updating the Group's row (its version)
-- last: checked at insert, every one of them would first share a lock on that row, and
-- each version the update leaves would record all of them (a MultiXact) for every later
-- read of the row to look up. Checked at commit, the write already holds the row.
ALTER TABLE scim_group_members ALTER CONSTRAINT scim_group_members_group_id_fkey DEFERRABLE INITIALLY DEFERRED;
