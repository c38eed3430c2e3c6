-- An account's policies. The account lives in agent-token (possibly another database), so there is
-- no foreign key; every query names the account.
CREATE TABLE policies (
    id TEXT PRIMARY KEY,
    account_id TEXT NOT NULL,
    name TEXT NOT NULL,
    -- NULL when the policy has none.
    description TEXT,
    -- 0 to 10000; higher wins.
    priority BIGINT NOT NULL,
    -- The rules as the API accepted them, normalised by the engine: a JSON array.
    rules_json TEXT NOT NULL,
    -- 1 or 0: an integer, which reads the same through sqlx's Any driver on both backends.
    is_active BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

CREATE INDEX policies_by_account ON policies (account_id, is_active, priority);

-- Per-account settings; an account without a row has the defaults (default_effect allow).
CREATE TABLE policy_settings (
    account_id TEXT PRIMARY KEY,
    -- allow or deny: the effect when no active policy matches.
    default_effect TEXT NOT NULL,
    updated_at BIGINT NOT NULL
);
