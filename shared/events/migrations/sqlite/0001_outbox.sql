CREATE TABLE latchkey_outbox (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    source TEXT NOT NULL,
    event_id TEXT NOT NULL UNIQUE,
    account TEXT NOT NULL,
    event_type TEXT NOT NULL,
    payload BLOB NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX latchkey_outbox_source_seq ON latchkey_outbox (source, seq);
