-- Webhook endpoints: each follows the events feed from its own position (`cursor_tx`,
-- `cursor_seq`), from its creation on, and delivers the events it asked for in order,
-- one at a time, retrying the same event until it is taken. `secret` is sealed under the
-- server's secret key (it signs every delivery, so it cannot be a hash; after a rotation
-- the previous one signs too until `previous_until`); `types` and
-- `organizations` are JSON arrays (empty: all). `lease_until` keeps two workers (or
-- nodes) from delivering for the same endpoint at once; every change the holder makes
-- names its `lease_token`, so a holder whose lease ran out changes nothing.
CREATE TABLE webhooks (
    id              TEXT PRIMARY KEY,
    url             TEXT NOT NULL,
    types           TEXT NOT NULL,
    organizations   TEXT NOT NULL,
    secret          TEXT NOT NULL,
    previous_secret TEXT,
    previous_until  BIGINT,
    enabled         INTEGER NOT NULL,
    cursor_tx       BIGINT NOT NULL DEFAULT 0,
    cursor_seq      BIGINT NOT NULL DEFAULT 0,
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at BIGINT NOT NULL,
    lease_until     BIGINT NOT NULL DEFAULT 0,
    lease_token     TEXT,
    failing_since   BIGINT,
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL
);

-- Every delivery attempt: what was sent, what the endpoint answered, how long it took.
CREATE TABLE webhook_deliveries (
    id          TEXT PRIMARY KEY,
    webhook_id  TEXT NOT NULL REFERENCES webhooks(id) ON DELETE CASCADE,
    event_id    TEXT NOT NULL,
    event_tx    BIGINT NOT NULL,
    event_seq   BIGINT NOT NULL,
    event_type  TEXT NOT NULL,
    attempt     INTEGER NOT NULL,
    at          BIGINT NOT NULL,
    status      INTEGER,
    latency_ms  BIGINT NOT NULL,
    response    TEXT,
    error       TEXT
);
CREATE INDEX webhook_deliveries_by_webhook ON webhook_deliveries(webhook_id, at);
