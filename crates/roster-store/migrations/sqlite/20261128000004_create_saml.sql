-- SAML: the SP's key pairs per connection (several during a rotation), the
-- AuthnRequests this server issued (one use, short-lived), and the replay cache of
-- assertion IDs shared by every node (kept until the assertion could no longer be used).
CREATE TABLE saml_sp_keys (
    id              TEXT PRIMARY KEY,
    connection_id   TEXT NOT NULL REFERENCES connections(id) ON DELETE CASCADE,
    private_key_pem TEXT NOT NULL,
    certificate_pem TEXT NOT NULL,
    created_at      BIGINT NOT NULL,
    not_after       BIGINT NOT NULL,
    retires_at      BIGINT
);
CREATE INDEX saml_sp_keys_connection ON saml_sp_keys(connection_id, created_at);

CREATE TABLE saml_requests (
    id            TEXT PRIMARY KEY,
    connection_id TEXT NOT NULL REFERENCES connections(id) ON DELETE CASCADE,
    return_to     TEXT NOT NULL,
    created_at    BIGINT NOT NULL,
    expires_at    BIGINT NOT NULL
);
CREATE INDEX saml_requests_expiry ON saml_requests(expires_at);

CREATE TABLE saml_replay (
    connection_id TEXT NOT NULL REFERENCES connections(id) ON DELETE CASCADE,
    assertion_id  TEXT NOT NULL,
    expires_at    BIGINT NOT NULL,
    PRIMARY KEY (connection_id, assertion_id)
);
CREATE INDEX saml_replay_expiry ON saml_replay(expires_at);
