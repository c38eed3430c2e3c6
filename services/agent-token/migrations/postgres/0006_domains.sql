-- Domains an account claims, each proved by a TXT record at _latchkey-challenge.<domain> holding
-- `challenge`. Two accounts may claim the same domain (each with its own challenge); one account
-- claims a domain once.
CREATE TABLE domains (
    id TEXT PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES accounts (id),
    -- Lowercase ASCII, no trailing dot.
    domain TEXT NOT NULL,
    -- pending, verified or failed.
    status TEXT NOT NULL,
    -- The TXT record's value: random, unique to this claim; published in DNS, so not a secret.
    challenge TEXT NOT NULL,
    -- Why the last check did not verify (no_record, value_mismatch, dns_error, timeout, expired);
    -- empty when it did or before the first check.
    reason TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    -- 0 unless verified.
    verified_at BIGINT NOT NULL,
    -- 0 until the first check.
    last_checked_at BIGINT NOT NULL,
    UNIQUE (account_id, domain)
);

-- The periodic round: verified domains due for a check, pending ones due to expire.
CREATE INDEX domains_by_status ON domains (status, last_checked_at);
CREATE INDEX domains_pending_by_age ON domains (status, created_at);
