-- The Ed25519 keys that sign agent tokens. Times are unix seconds (the tokens' own clock).
-- The seed is the key's 32-byte secret; sealing it with the vault's root key is issue 4's work.
CREATE TABLE signing_keys (
    kid TEXT PRIMARY KEY,
    seed BLOB NOT NULL,
    created_at BIGINT NOT NULL,
    activates_at BIGINT NOT NULL,
    retires_at BIGINT,
    published_until BIGINT
);
