-- One hash chain per account. (account_id, seq) is the chain position: two appenders racing for
-- the same position collide on the primary key and the loser retries on the new head.
CREATE TABLE audit_entries (
    account_id TEXT NOT NULL,
    seq BIGINT NOT NULL,
    event_id TEXT NOT NULL UNIQUE,
    event_type TEXT NOT NULL,
    time_ms BIGINT NOT NULL,
    actor TEXT NOT NULL,
    subject TEXT NOT NULL,
    decision_id TEXT NOT NULL,
    data TEXT NOT NULL,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL,
    PRIMARY KEY (account_id, seq)
);

CREATE INDEX audit_entries_by_type ON audit_entries (account_id, event_type, seq);
