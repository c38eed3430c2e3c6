-- Signing certificates (AGNT Connect): the public half of key pairs whose private key was handed
-- to the account once and never stored.
CREATE TABLE certificates (
    id TEXT PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES accounts (id),
    -- The key id JWTs name in their header; also the public name of the certificate.
    kid TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    -- RS256, RS384, RS512, ES256 or EdDSA: the only `alg` its JWTs may carry.
    algorithm TEXT NOT NULL,
    -- SubjectPublicKeyInfo, PEM.
    public_key_pem TEXT NOT NULL,
    -- The same key as a JWK's key members (kty and n, e / crv, x, y / crv, x), JSON.
    public_jwk TEXT NOT NULL,
    -- active or revoked; revoked is final.
    status TEXT NOT NULL,
    -- A JSON object of strings.
    metadata TEXT NOT NULL,
    expires_at BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

CREATE INDEX certificates_by_account ON certificates (account_id, created_at);

-- The jti of every certificate JWT accepted, until the JWT expires: a second use is a replay.
CREATE TABLE certificate_jtis (
    certificate_id TEXT NOT NULL,
    jti TEXT NOT NULL,
    -- Unix ms after which the JWT is refused anyway (its exp plus the leeway): the row may go.
    expires_at BIGINT NOT NULL,
    PRIMARY KEY (certificate_id, jti)
);

CREATE INDEX certificate_jtis_by_expiry ON certificate_jtis (expires_at);
