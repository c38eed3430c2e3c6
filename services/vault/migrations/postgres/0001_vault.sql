-- Each account's data key, wrapped (AES-256-GCM: nonce, ciphertext, tag) under one root key version.
-- The account lives in agent-token (possibly another database), so there is no foreign key.
-- `latchkey vault rotate` re-wraps a row under the newest root key: root_version and wrapped_key
-- change together, the data key itself (and so every secret sealed with it) stays the same.
CREATE TABLE vault_data_keys (
    account_id TEXT PRIMARY KEY,
    root_version BIGINT NOT NULL,
    wrapped_key BYTEA NOT NULL,
    created_at BIGINT NOT NULL,
    rewrapped_at BIGINT NOT NULL
);

CREATE INDEX vault_data_keys_by_root_version ON vault_data_keys (root_version);

-- The current version of each secret, sealed with its account's data key. The AAD binds the
-- ciphertext to (account_id, secret_id, version), so bytes copied to another row do not open.
CREATE TABLE vault_secrets (
    account_id TEXT NOT NULL,
    secret_id TEXT NOT NULL,
    version BIGINT NOT NULL,
    -- 1: no API returns the plaintext (only internal uses may open it). Never goes back to 0.
    write_only BIGINT NOT NULL,
    -- The last four characters of a text secret for masked summaries; '' when short or binary.
    last4 TEXT NOT NULL,
    nonce BYTEA NOT NULL,
    ciphertext BYTEA NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (account_id, secret_id)
);
