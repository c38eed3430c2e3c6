-- The plan an account is on (a name from the settings' [plans.*] tables); NULL means the
-- deployment's default plan, as accounts created before plans existed are.
ALTER TABLE accounts ADD COLUMN plan TEXT;

-- Tokens issued per account and calendar month (UTC, 'YYYY-MM'), counted only while a plan of the
-- deployment limits tokens_per_month.
CREATE TABLE token_counts (
    account_id TEXT NOT NULL REFERENCES accounts (id),
    month TEXT NOT NULL,
    issued BIGINT NOT NULL,
    PRIMARY KEY (account_id, month)
);
