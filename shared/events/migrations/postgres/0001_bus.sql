-- The in-process bus of `latchkey dev`: an append-only log of events, deduplicated by event id,
-- and the position of every durable consumer in it.
CREATE TABLE latchkey_bus_events (
    seq BIGSERIAL PRIMARY KEY,
    event_id TEXT NOT NULL UNIQUE,
    account TEXT NOT NULL,
    event_type TEXT NOT NULL,
    payload BYTEA NOT NULL,
    published_at BIGINT NOT NULL
);
CREATE TABLE latchkey_bus_cursors (
    consumer TEXT PRIMARY KEY,
    position BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
