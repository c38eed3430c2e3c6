-- Webhook endpoints of every account. The account lives in agent-token (possibly another database),
-- so there is no foreign key; every query names the account.
CREATE TABLE webhook_endpoints (
    id TEXT PRIMARY KEY,
    account_id TEXT NOT NULL,
    url TEXT NOT NULL,
    -- JSON array of event types and patterns (`token.*`, `*`).
    events_json TEXT NOT NULL,
    -- NULL when it has none.
    description TEXT,
    -- whsec_…: kept here so deliveries can be signed (the vault service does not seal yet).
    secret TEXT NOT NULL,
    -- The secret before the last rotation, signing beside the new one until previous_expires_at.
    previous_secret TEXT,
    previous_expires_at BIGINT NOT NULL,
    -- active or disabled.
    status TEXT NOT NULL,
    -- gone or failing; empty while active.
    disabled_reason TEXT NOT NULL,
    -- Since when every delivery has failed; 0 while healthy.
    failing_since BIGINT NOT NULL,
    -- 1 once endpoint.failing was announced for the current failing span.
    failing_announced BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

CREATE INDEX webhook_endpoints_by_account ON webhook_endpoints (account_id, status);

-- One message per (endpoint, event): written before any delivery, so a crash loses nothing.
CREATE TABLE webhook_messages (
    -- msg_…: the webhook-id of every delivery of this message.
    id TEXT PRIMARY KEY,
    account_id TEXT NOT NULL,
    endpoint_id TEXT NOT NULL,
    event_id TEXT NOT NULL,
    event_type TEXT NOT NULL,
    -- When the event happened, Unix milliseconds (replay selects on it).
    event_time BIGINT NOT NULL,
    -- The exact body every delivery sends.
    body TEXT NOT NULL,
    -- pending, delivered or failed.
    status TEXT NOT NULL,
    attempts BIGINT NOT NULL,
    -- When the next attempt is due; 0 when none is.
    next_attempt_at BIGINT NOT NULL,
    -- A worker that claimed the message owns it until then.
    lease_until BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    UNIQUE (endpoint_id, event_id)
);

CREATE INDEX webhook_messages_due ON webhook_messages (status, next_attempt_at);
CREATE INDEX webhook_messages_by_endpoint ON webhook_messages (endpoint_id, event_time);

-- Every delivery attempt, as the API lists them.
CREATE TABLE webhook_attempts (
    -- wha_… ordered by time (UUIDv7 based), so newest-first is id order.
    id TEXT PRIMARY KEY,
    account_id TEXT NOT NULL,
    endpoint_id TEXT NOT NULL,
    message_id TEXT NOT NULL,
    attempted_at BIGINT NOT NULL,
    -- 0 when no HTTP status was answered.
    status_code BIGINT NOT NULL,
    -- succeeded or failed.
    outcome TEXT NOT NULL,
    error TEXT NOT NULL,
    latency_ms BIGINT NOT NULL,
    -- At most 1 KiB of the response body.
    response_snippet TEXT NOT NULL
);

CREATE INDEX webhook_attempts_by_endpoint ON webhook_attempts (endpoint_id, id);
