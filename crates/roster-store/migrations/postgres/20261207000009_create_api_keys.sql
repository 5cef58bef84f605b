-- API keys: credentials an app reads with and can do nothing else with. A key reads
-- `rk_<id>_<secret>`: the id finds the row, then the hash of the whole key is compared.
-- `scopes` and `organizations` (ids; empty: all) are JSON arrays.
CREATE TABLE api_keys (
    id            TEXT PRIMARY KEY,
    secret_hash   TEXT NOT NULL,
    scopes        TEXT NOT NULL,
    organizations TEXT NOT NULL,
    created_at    BIGINT NOT NULL,
    revoked_at    BIGINT
);
