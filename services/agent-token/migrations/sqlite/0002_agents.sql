CREATE TABLE agents (
    id TEXT PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES accounts (id),
    name TEXT NOT NULL,
    owner TEXT NOT NULL,
    description TEXT NOT NULL,
    model_provider TEXT NOT NULL,
    model_name TEXT NOT NULL,
    framework TEXT NOT NULL,
    -- active, paused or revoked; revoked is final.
    status TEXT NOT NULL,
    -- SHA-256 of the agent's secret key, lowercase hex.
    secret_hash TEXT NOT NULL UNIQUE,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    revoked_at BIGINT NOT NULL
);

CREATE INDEX agents_by_account ON agents (account_id, status, created_at);
