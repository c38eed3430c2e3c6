-- Throttle counters, shared by every policy instance on this database: one row per counter and
-- fixed window, charged with one atomic conditional upsert (a slot is taken only while the count is
-- below the limit). Rows past their window are swept.
CREATE TABLE throttle_counters (
    account_id TEXT NOT NULL,
    -- policy:<id>, policy:<id>:agent:<agent_id>, default, default:agent:<agent_id>
    counter_key TEXT NOT NULL,
    -- Unix seconds, a multiple of the window length.
    window_start BIGINT NOT NULL,
    count BIGINT NOT NULL,
    -- Unix seconds: the window's end, after which the row is only garbage.
    expires_at BIGINT NOT NULL,
    PRIMARY KEY (account_id, counter_key, window_start)
);

CREATE INDEX throttle_counters_by_expiry ON throttle_counters (expires_at);

-- Token requests held by a require_approval rule.
CREATE TABLE approvals (
    id TEXT PRIMARY KEY,
    account_id TEXT NOT NULL,
    -- pending, approved or denied; "expired" is a pending row past expires_at, computed on read.
    status TEXT NOT NULL,
    agent_id TEXT NOT NULL,
    -- The scopes as a JSON array of strings.
    scope_json TEXT NOT NULL,
    target_service TEXT NOT NULL,
    ttl BIGINT NOT NULL,
    intent TEXT,
    policy_id TEXT NOT NULL,
    policy_name TEXT NOT NULL,
    rule_index BIGINT NOT NULL,
    decision_id TEXT NOT NULL,
    requested_by TEXT,
    requested_at BIGINT NOT NULL,
    -- Unix ms: a pending approval expires then; an approved one can be redeemed until then.
    expires_at BIGINT NOT NULL,
    decided_at BIGINT,
    decided_by TEXT,
    note TEXT,
    -- Unix ms when the approved request yielded its token (once).
    redeemed_at BIGINT
);

CREATE INDEX approvals_by_account ON approvals (account_id, status, requested_at);
