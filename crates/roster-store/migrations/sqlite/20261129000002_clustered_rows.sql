-- Small rows found by their key are stored clustered on it (WITHOUT ROWID): a lookup by
-- key is one b-tree descent instead of two (the key's index, then the rowid table), and
-- an insert writes one b-tree fewer. A User read finds its account and its Groups by
-- id; every provisioned account adds a user, a membership and team memberships.
--
-- `users` and `scim_groups` are referenced by other tables: the store runs migrations
-- with foreign-key enforcement off, so dropping the old table deletes nothing through
-- ON DELETE actions, and the references resolve to the new table once it has the name.
-- The store checks every reference after the migrations.

CREATE TABLE users_clustered (
    id           TEXT PRIMARY KEY,
    email        TEXT NOT NULL,
    email_key    TEXT NOT NULL UNIQUE,
    username     TEXT NOT NULL UNIQUE,
    full_name    TEXT NOT NULL,
    given_name   TEXT,
    family_name  TEXT,
    created_at   BIGINT NOT NULL,
    updated_at   BIGINT NOT NULL
) WITHOUT ROWID;
INSERT INTO users_clustered (id, email, email_key, username, full_name, given_name, family_name, created_at, updated_at)
    SELECT id, email, email_key, username, full_name, given_name, family_name, created_at, updated_at FROM users;
DROP TABLE users;
ALTER TABLE users_clustered RENAME TO users;

CREATE TABLE scim_groups_clustered (
    id               TEXT PRIMARY KEY,
    connection_id    TEXT NOT NULL REFERENCES connections(id) ON DELETE CASCADE,
    display_name     TEXT NOT NULL,
    display_name_key TEXT NOT NULL,
    external_id      TEXT,
    team_id          TEXT REFERENCES teams(id) ON DELETE SET NULL,
    resource         TEXT NOT NULL,
    version          BIGINT NOT NULL,
    created_at       BIGINT NOT NULL,
    updated_at       BIGINT NOT NULL
) WITHOUT ROWID;
INSERT INTO scim_groups_clustered (id, connection_id, display_name, display_name_key, external_id, team_id, resource,
                                   version, created_at, updated_at)
    SELECT id, connection_id, display_name, display_name_key, external_id, team_id, resource, version, created_at, updated_at
    FROM scim_groups;
DROP TABLE scim_groups;
ALTER TABLE scim_groups_clustered RENAME TO scim_groups;
CREATE INDEX scim_groups_name ON scim_groups(connection_id, display_name_key);
CREATE INDEX scim_groups_external_id ON scim_groups(connection_id, external_id);
CREATE INDEX scim_groups_created ON scim_groups(connection_id, created_at, id);

-- The checks compare with each value: SQLite evaluates an IN list of three or more
-- constants through a temporary b-tree, built anew for every row written.
CREATE TABLE memberships_clustered (
    organization_id TEXT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    user_id         TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    role            TEXT NOT NULL CHECK (role = 'member' OR role = 'editor' OR role = 'owner'),
    state           TEXT NOT NULL CHECK (state = 'active' OR state = 'deactivated'),
    source          TEXT NOT NULL CHECK (source = 'jit' OR source = 'scim' OR source = 'invite' OR source = 'admin'),
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL,
    PRIMARY KEY (organization_id, user_id)
) WITHOUT ROWID;
INSERT INTO memberships_clustered (organization_id, user_id, role, state, source, created_at, updated_at)
    SELECT organization_id, user_id, role, state, source, created_at, updated_at FROM memberships;
DROP TABLE memberships;
ALTER TABLE memberships_clustered RENAME TO memberships;
CREATE INDEX memberships_user ON memberships(user_id);
CREATE INDEX memberships_org_state_role ON memberships(organization_id, state, role);

CREATE TABLE team_members_clustered (
    team_id     TEXT NOT NULL REFERENCES teams(id) ON DELETE CASCADE,
    user_id     TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    source      TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    PRIMARY KEY (team_id, user_id)
) WITHOUT ROWID;
INSERT INTO team_members_clustered (team_id, user_id, source, created_at)
    SELECT team_id, user_id, source, created_at FROM team_members;
DROP TABLE team_members;
ALTER TABLE team_members_clustered RENAME TO team_members;
CREATE INDEX team_members_user ON team_members(user_id);

-- Audit events are listed by one of these columns; an event without a value there is
-- never found through it, so it gets no index entry (a SCIM create records five events
-- and most leave one or more of them empty).
DROP INDEX audit_events_company;
DROP INDEX audit_events_org;
DROP INDEX audit_events_connection;
DROP INDEX audit_events_user;
CREATE INDEX audit_events_company ON audit_events(company_id, seq) WHERE company_id IS NOT NULL;
CREATE INDEX audit_events_org ON audit_events(organization_id, seq) WHERE organization_id IS NOT NULL;
CREATE INDEX audit_events_connection ON audit_events(connection_id, seq) WHERE connection_id IS NOT NULL;
CREATE INDEX audit_events_user ON audit_events(user_id, seq) WHERE user_id IS NOT NULL;
