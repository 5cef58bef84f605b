-- S4/S6: an account provisioned or linked by a connection's SCIM. The global account
-- outlives the link (DELETE removes only this row).
CREATE TABLE scim_users (
    connection_id TEXT NOT NULL REFERENCES connections(id) ON DELETE CASCADE,
    user_id       TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    external_id   TEXT,
    created_at    BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL,
    PRIMARY KEY (connection_id, user_id)
);
CREATE UNIQUE INDEX scim_users_external_id ON scim_users(connection_id, external_id) WHERE external_id IS NOT NULL;
CREATE INDEX scim_users_user ON scim_users(user_id);
