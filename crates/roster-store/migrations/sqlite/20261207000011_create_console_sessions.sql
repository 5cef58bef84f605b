-- Admin console sessions, apart from sign-in sessions. `id` is the hash of the cookie's
-- token. An operator's session stands on an admin token (and ends with it); an owner's
-- on a sign-in session of their company (and ends with it, or when they stop being an
-- active owner there). `csrf` is the token every form of the session carries;
-- `reauth_at` is when the operator last entered the admin token (destructive actions
-- ask for it again after a few minutes).
CREATE TABLE console_sessions (
    id             TEXT PRIMARY KEY,
    kind           TEXT NOT NULL CHECK (kind IN ('operator', 'owner')),
    admin_token_id TEXT,
    user_id        TEXT REFERENCES users(id) ON DELETE CASCADE,
    company_id     TEXT REFERENCES companies(id) ON DELETE CASCADE,
    sso_session_id TEXT,
    csrf           TEXT NOT NULL,
    created_at     BIGINT NOT NULL,
    expires_at     BIGINT NOT NULL,
    reauth_at      BIGINT NOT NULL
);
CREATE INDEX console_sessions_expiry ON console_sessions(expires_at);

-- The console's overview shows each connection's last sign-in.
CREATE INDEX sessions_connection ON sessions(connection_id, created_at);
