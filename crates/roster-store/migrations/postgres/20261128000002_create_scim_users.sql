-- SCIM resources of each connection (spec §5). A SCIM User links to the global account
-- it provisions (S4/S5); DELETE removes the link and the resource, never the account.
-- Filterable attributes have columns and indexes; the whole resource is kept as sent.
CREATE TABLE scim_users (
    id            TEXT PRIMARY KEY,
    connection_id TEXT NOT NULL REFERENCES connections(id) ON DELETE CASCADE,
    user_id       TEXT REFERENCES users(id) ON DELETE SET NULL,
    user_name     TEXT NOT NULL,
    user_name_key TEXT NOT NULL,
    external_id   TEXT,
    email_key     TEXT,
    active        BOOLEAN NOT NULL,
    resource      TEXT NOT NULL,
    version       BIGINT NOT NULL,
    created_at    BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL,
    UNIQUE (connection_id, user_name_key)
);
CREATE UNIQUE INDEX scim_users_account ON scim_users(connection_id, user_id) WHERE user_id IS NOT NULL;
CREATE INDEX scim_users_external_id ON scim_users(connection_id, external_id);
CREATE INDEX scim_users_email ON scim_users(connection_id, email_key);
CREATE INDEX scim_users_created ON scim_users(connection_id, created_at, id);
CREATE INDEX scim_users_user ON scim_users(user_id);

CREATE TABLE scim_groups (
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
);
CREATE INDEX scim_groups_name ON scim_groups(connection_id, display_name_key);
CREATE INDEX scim_groups_external_id ON scim_groups(connection_id, external_id);
CREATE INDEX scim_groups_created ON scim_groups(connection_id, created_at, id);

CREATE TABLE scim_group_members (
    group_id     TEXT NOT NULL REFERENCES scim_groups(id) ON DELETE CASCADE,
    scim_user_id TEXT NOT NULL REFERENCES scim_users(id) ON DELETE CASCADE,
    PRIMARY KEY (group_id, scim_user_id)
);
CREATE INDEX scim_group_members_user ON scim_group_members(scim_user_id);
