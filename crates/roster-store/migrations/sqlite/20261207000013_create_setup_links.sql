-- Self-serve setup links: an owner or the operator hands one to a customer's IT admin,
-- who can then do one connection's IdP setup and nothing else. `token_hash` is the
-- hash of the link's secret; the first browser to open the link claims it
-- (`browser_hash`, the hash of that browser's cookie), and no other browser can use it.
-- A link ends when it expires or is revoked, and with its connection.
CREATE TABLE setup_links (
    id            TEXT PRIMARY KEY,
    connection_id TEXT NOT NULL REFERENCES connections(id) ON DELETE CASCADE,
    company_id    TEXT NOT NULL REFERENCES companies(id) ON DELETE CASCADE,
    token_hash    TEXT NOT NULL UNIQUE,
    browser_hash  TEXT UNIQUE,
    csrf          TEXT NOT NULL,
    created_by    TEXT NOT NULL,
    created_at    BIGINT NOT NULL,
    expires_at    BIGINT NOT NULL,
    opened_at     BIGINT,
    revoked_at    BIGINT
);
CREATE INDEX setup_links_connection ON setup_links(connection_id, created_at);
