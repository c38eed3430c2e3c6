-- The checkpoint signing keys. The first start creates one; the newest signs, all stay published.
CREATE TABLE audit_signing_keys (
    kid TEXT PRIMARY KEY,
    seed BYTEA NOT NULL,
    created_ms BIGINT NOT NULL
);

-- Signed chain heads: one per chain that moved, each time checkpoints are taken.
CREATE TABLE audit_checkpoints (
    account_id TEXT NOT NULL,
    seq BIGINT NOT NULL,
    hash TEXT NOT NULL,
    time_ms BIGINT NOT NULL,
    kid TEXT NOT NULL,
    signature TEXT NOT NULL,
    PRIMARY KEY (account_id, seq)
);

-- Time-range queries and analytics.
CREATE INDEX audit_entries_by_time ON audit_entries (account_id, time_ms);
