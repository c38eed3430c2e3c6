-- Events that kept failing, moved aside so the queue behind them moves on (docs/events.md): outbox
-- rows the bus refused (`relay:<source>`) and events a durable consumer could not handle
-- (`consumer:<name>`). `payload` is the envelope as it was; `retry_requested_at` is set by
-- `latchkey events dead-letters retry` for a consumer's dead letter until the consumer takes it.
CREATE TABLE latchkey_dead_letters (
    id TEXT PRIMARY KEY,
    location TEXT NOT NULL,
    event_id TEXT NOT NULL,
    account TEXT NOT NULL,
    event_type TEXT NOT NULL,
    payload BYTEA NOT NULL,
    last_error TEXT NOT NULL,
    tries BIGINT NOT NULL,
    dead_at BIGINT NOT NULL,
    retry_requested_at BIGINT,
    UNIQUE (location, event_id)
);
