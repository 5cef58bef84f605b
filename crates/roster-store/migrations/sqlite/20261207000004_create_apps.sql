-- Apps: the company's own applications that sign people in through Roster (OAuth 2.0
-- clients of Roster's OpenID Provider). `id` is the client_id; only a hash of a
-- confidential app's secret is kept. URI lists are JSON arrays.
CREATE TABLE apps (
    id                           TEXT PRIMARY KEY,
    company_id                   TEXT NOT NULL REFERENCES companies(id) ON DELETE CASCADE,
    name                         TEXT NOT NULL,
    name_key                     TEXT NOT NULL,
    client_type                  TEXT NOT NULL,
    token_endpoint_auth_method   TEXT NOT NULL,
    id_token_signed_response_alg TEXT NOT NULL,
    redirect_uris                TEXT NOT NULL,
    post_logout_redirect_uris    TEXT NOT NULL,
    backchannel_logout_uri       TEXT,
    secret_hash                  TEXT,
    created_at                   BIGINT NOT NULL,
    updated_at                   BIGINT NOT NULL,
    UNIQUE (company_id, name_key)
);

-- The organizations whose members may sign in to an app; none listed: all of the
-- company's.
CREATE TABLE app_organizations (
    app_id          TEXT NOT NULL REFERENCES apps(id) ON DELETE CASCADE,
    organization_id TEXT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    PRIMARY KEY (app_id, organization_id)
);
CREATE INDEX app_organizations_organization ON app_organizations(organization_id);
