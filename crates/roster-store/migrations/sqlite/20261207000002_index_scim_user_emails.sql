-- Every email address of a SCIM User, so that filters on emails (Entra ID matches
-- users by work email: emails[type eq "work"].value eq "…") run on an index and see
-- every address, not only the one the User provisions.
CREATE TABLE scim_user_emails (
    scim_user_id  TEXT NOT NULL REFERENCES scim_users(id) ON DELETE CASCADE,
    connection_id TEXT NOT NULL,
    -- The User's userName key: a filter finds the User by its unique
    -- (connection_id, user_name_key), one index probe per matching address.
    user_name_key TEXT NOT NULL,
    email_key     TEXT NOT NULL,
    type_key      TEXT,
    is_primary    BOOLEAN NOT NULL DEFAULT FALSE
);
CREATE INDEX scim_user_emails_key ON scim_user_emails(connection_id, email_key);
CREATE INDEX scim_user_emails_user ON scim_user_emails(scim_user_id);
INSERT INTO scim_user_emails (scim_user_id, connection_id, user_name_key, email_key, type_key, is_primary)
SELECT r.id, r.connection_id, r.user_name_key, lower(json_extract(e.value, '$.value')), lower(json_extract(e.value, '$.type')),
       CASE WHEN json_type(e.value, '$.primary') = 'true' THEN 1 ELSE 0 END
FROM scim_users r, json_each(r.resource, '$.emails') e
WHERE json_valid(r.resource) AND json_type(r.resource, '$.emails') = 'array'
  AND json_type(e.value, '$.value') = 'text';
