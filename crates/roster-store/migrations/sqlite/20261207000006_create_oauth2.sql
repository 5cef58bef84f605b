-- Roster's OpenID Provider: what it grants to apps.
--
-- Authorization requests waiting for the person to sign in; `id` is random and names
-- the request in the URL the sign-in returns to; `request` is the checked request, JSON.
CREATE TABLE oauth2_pending (
    id         TEXT PRIMARY KEY,
    app_id     TEXT NOT NULL REFERENCES apps(id) ON DELETE CASCADE,
    request    TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX oauth2_pending_expiry ON oauth2_pending(expires_at);

-- A grant: what one sign-in (or one client_credentials request) allowed an app. It ends
-- with the Roster session it came from (`session_id`), at `expires_at` (never past the
-- session's end), or when revoked (a leaver, a code used twice, a refresh token reused).
-- `details` holds what its ID tokens say besides the person: nonce, auth_time, amr, idp.
CREATE TABLE oauth2_grants (
    id            TEXT PRIMARY KEY,
    app_id        TEXT NOT NULL REFERENCES apps(id) ON DELETE CASCADE,
    user_id       TEXT REFERENCES users(id) ON DELETE CASCADE,
    company_id    TEXT NOT NULL,
    session_id    TEXT,
    scope         TEXT NOT NULL,
    details       TEXT NOT NULL,
    created_at    BIGINT NOT NULL,
    expires_at    BIGINT NOT NULL,
    revoked_at    BIGINT,
    revoked_why   TEXT
);
CREATE INDEX oauth2_grants_user ON oauth2_grants(user_id, company_id);
CREATE INDEX oauth2_grants_session ON oauth2_grants(session_id);
CREATE INDEX oauth2_grants_expiry ON oauth2_grants(expires_at);

-- The codes, access tokens and refresh tokens of a grant, by the SHA-256 of the secret.
-- A code is bound to its redirect URI and PKCE challenge; `used_at` marks a code
-- redeemed or a refresh token rotated (a second use revokes the grant).
CREATE TABLE oauth2_tokens (
    hash           TEXT PRIMARY KEY,
    grant_id       TEXT NOT NULL REFERENCES oauth2_grants(id) ON DELETE CASCADE,
    kind           TEXT NOT NULL CHECK (kind IN ('code', 'access', 'refresh')),
    redirect_uri   TEXT,
    code_challenge TEXT,
    created_at     BIGINT NOT NULL,
    expires_at     BIGINT NOT NULL,
    used_at        BIGINT
);
CREATE INDEX oauth2_tokens_grant ON oauth2_tokens(grant_id);
CREATE INDEX oauth2_tokens_expiry ON oauth2_tokens(expires_at);

-- Back-channel logouts to send (an outbox written with the change that ended the
-- session): one per app and ended session (`id` names both), retried until delivered
-- or given up.
CREATE TABLE oauth2_logouts (
    id              TEXT PRIMARY KEY,
    app_id          TEXT NOT NULL REFERENCES apps(id) ON DELETE CASCADE,
    user_id         TEXT NOT NULL,
    session_id      TEXT NOT NULL,
    created_at      BIGINT NOT NULL,
    next_attempt_at BIGINT NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    delivered_at    BIGINT,
    given_up_at     BIGINT,
    last_error      TEXT
);
CREATE INDEX oauth2_logouts_due ON oauth2_logouts(next_attempt_at) WHERE delivered_at IS NULL AND given_up_at IS NULL;
