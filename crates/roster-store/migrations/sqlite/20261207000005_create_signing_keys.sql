-- The keys Roster signs the tokens it issues with: one active key per algorithm, and
-- retired ones still published for a while after a rotation. The private key is kept
-- sealed under the server's secret key; the public JWK as JSON.
CREATE TABLE signing_keys (
    id          TEXT PRIMARY KEY,
    alg         TEXT NOT NULL,
    private_key TEXT NOT NULL,
    public_jwk  TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    retired_at  BIGINT
);
CREATE INDEX signing_keys_alg ON signing_keys(alg, retired_at);
