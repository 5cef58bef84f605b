-- The directory model of provisioning.md §1. Times are Unix milliseconds (UTC).
-- Names and emails carry a lower-cased *_key column: uniqueness is case-insensitive.

CREATE TABLE companies (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    name_key    TEXT NOT NULL UNIQUE,
    created_at  BIGINT NOT NULL
);

CREATE TABLE organizations (
    id          TEXT PRIMARY KEY,
    company_id  TEXT NOT NULL REFERENCES companies(id),
    name        TEXT NOT NULL,
    name_key    TEXT NOT NULL UNIQUE,
    seat_limit  BIGINT,
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL
);
CREATE INDEX organizations_company ON organizations(company_id);

CREATE TABLE teams (
    id              TEXT PRIMARY KEY,
    organization_id TEXT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    name            TEXT NOT NULL,
    name_key        TEXT NOT NULL,
    created_at      BIGINT NOT NULL,
    UNIQUE (organization_id, name_key)
);

CREATE TABLE users (
    id           TEXT PRIMARY KEY,
    email        TEXT NOT NULL,
    email_key    TEXT NOT NULL UNIQUE,
    username     TEXT NOT NULL UNIQUE,
    full_name    TEXT NOT NULL,
    given_name   TEXT,
    family_name  TEXT,
    created_at   BIGINT NOT NULL,
    updated_at   BIGINT NOT NULL
);

CREATE TABLE memberships (
    organization_id TEXT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    user_id         TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    role            TEXT NOT NULL CHECK (role IN ('member', 'editor', 'owner')),
    state           TEXT NOT NULL CHECK (state IN ('active', 'deactivated')),
    source          TEXT NOT NULL CHECK (source IN ('jit', 'scim', 'invite', 'admin')),
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL,
    PRIMARY KEY (organization_id, user_id)
);
CREATE INDEX memberships_user ON memberships(user_id);
CREATE INDEX memberships_org_state_role ON memberships(organization_id, state, role);

CREATE TABLE team_members (
    team_id     TEXT NOT NULL REFERENCES teams(id) ON DELETE CASCADE,
    user_id     TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    source      TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    PRIMARY KEY (team_id, user_id)
);
CREATE INDEX team_members_user ON team_members(user_id);

CREATE TABLE invitations (
    id              TEXT PRIMARY KEY,
    organization_id TEXT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    email           TEXT NOT NULL,
    email_key       TEXT NOT NULL,
    team_id         TEXT REFERENCES teams(id) ON DELETE SET NULL,
    role            TEXT NOT NULL CHECK (role IN ('member', 'editor', 'owner')),
    created_at      BIGINT NOT NULL,
    expires_at      BIGINT NOT NULL,
    accepted_at     BIGINT,
    revoked_at      BIGINT
);
CREATE UNIQUE INDEX invitations_pending ON invitations(organization_id, email_key)
    WHERE accepted_at IS NULL AND revoked_at IS NULL;
CREATE INDEX invitations_email ON invitations(email_key);

CREATE TABLE domains (
    company_id      TEXT NOT NULL REFERENCES companies(id) ON DELETE CASCADE,
    domain          TEXT NOT NULL,
    txt_token       TEXT NOT NULL,
    verified_at     BIGINT,
    verified_method TEXT,
    created_at      BIGINT NOT NULL,
    PRIMARY KEY (company_id, domain)
);
-- A domain can be verified by one company only.
CREATE UNIQUE INDEX domains_verified ON domains(domain) WHERE verified_at IS NOT NULL;

CREATE TABLE connections (
    id                       TEXT PRIMARY KEY,
    company_id               TEXT NOT NULL REFERENCES companies(id),
    name                     TEXT NOT NULL,
    name_key                 TEXT NOT NULL,
    protocol                 TEXT NOT NULL CHECK (protocol IN ('saml', 'oidc')),
    jit                      BOOLEAN NOT NULL,
    scim                     BOOLEAN NOT NULL,
    idp_initiated            BOOLEAN NOT NULL,
    default_organization_id  TEXT NOT NULL REFERENCES organizations(id),
    default_team             TEXT,
    default_session_minutes  BIGINT,
    settings                 TEXT NOT NULL,
    created_at               BIGINT NOT NULL,
    updated_at               BIGINT NOT NULL,
    UNIQUE (company_id, name_key)
);
CREATE INDEX connections_name ON connections(name_key);

CREATE TABLE connection_domains (
    connection_id TEXT NOT NULL REFERENCES connections(id) ON DELETE CASCADE,
    domain        TEXT NOT NULL,
    PRIMARY KEY (connection_id, domain)
);
-- A domain is served by one connection (routing by email domain must be unambiguous).
CREATE UNIQUE INDEX connection_domains_domain ON connection_domains(domain);

CREATE TABLE connection_organizations (
    connection_id   TEXT NOT NULL REFERENCES connections(id) ON DELETE CASCADE,
    organization_id TEXT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    PRIMARY KEY (connection_id, organization_id)
);
CREATE INDEX connection_organizations_org ON connection_organizations(organization_id);

CREATE TABLE scim_tokens (
    id            TEXT PRIMARY KEY,
    connection_id TEXT NOT NULL REFERENCES connections(id) ON DELETE CASCADE,
    secret_hash   TEXT NOT NULL,
    created_at    BIGINT NOT NULL,
    last_used_at  BIGINT,
    revoked_at    BIGINT
);
CREATE INDEX scim_tokens_connection ON scim_tokens(connection_id);

CREATE TABLE admin_tokens (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    secret_hash TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    revoked_at  BIGINT
);

CREATE TABLE sessions (
    id            TEXT PRIMARY KEY,
    token_hash    TEXT NOT NULL UNIQUE,
    user_id       TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    company_id    TEXT REFERENCES companies(id) ON DELETE CASCADE,
    connection_id TEXT REFERENCES connections(id) ON DELETE CASCADE,
    created_at    BIGINT NOT NULL,
    expires_at    BIGINT NOT NULL,
    idle_timeout_ms BIGINT,
    last_seen_at  BIGINT NOT NULL,
    ended_at      BIGINT
);
CREATE INDEX sessions_user ON sessions(user_id);

CREATE TABLE audit_events (
    seq             BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id              TEXT NOT NULL UNIQUE,
    at              BIGINT NOT NULL,
    actor_kind      TEXT NOT NULL,
    actor_id        TEXT,
    action          TEXT NOT NULL,
    object_kind     TEXT NOT NULL,
    object_id       TEXT NOT NULL,
    company_id      TEXT,
    organization_id TEXT,
    connection_id   TEXT,
    user_id         TEXT,
    before          TEXT,
    after           TEXT,
    rule            TEXT,
    reason          TEXT,
    trace_id        TEXT NOT NULL
);
CREATE INDEX audit_events_company ON audit_events(company_id, seq);
CREATE INDEX audit_events_org ON audit_events(organization_id, seq);
CREATE INDEX audit_events_connection ON audit_events(connection_id, seq);
CREATE INDEX audit_events_user ON audit_events(user_id, seq);
