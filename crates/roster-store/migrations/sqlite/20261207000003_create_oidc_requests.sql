-- Pending OIDC sign-ins: one row per authorization request, used up by its callback.
-- `id` is the request's `state`; `browser_hash` the hash of the secret set as a cookie
-- on the browser that started it (a callback from another browser is refused: no login
-- CSRF); `nonce` the value the ID token must carry; `pkce_verifier` the PKCE secret
-- sent with the code to the token endpoint.
CREATE TABLE oidc_requests (
    id            TEXT PRIMARY KEY,
    connection_id TEXT NOT NULL REFERENCES connections(id) ON DELETE CASCADE,
    return_to     TEXT NOT NULL,
    browser_hash  TEXT NOT NULL,
    nonce         TEXT NOT NULL,
    pkce_verifier TEXT NOT NULL,
    created_at    BIGINT NOT NULL,
    expires_at    BIGINT NOT NULL
);
CREATE INDEX oidc_requests_expiry ON oidc_requests(expires_at);
