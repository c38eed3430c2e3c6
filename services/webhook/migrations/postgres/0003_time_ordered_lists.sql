-- Ids are random since ids come from latchkey-ids (they were UUIDv7, ordered by time), so lists
-- order by time and break ties by id: attempts newest first by (attempted_at, id), endpoints oldest
-- first by (created_at, id). The old attempts index served the id order only.
CREATE INDEX webhook_attempts_by_endpoint_time ON webhook_attempts (endpoint_id, attempted_at, id);
DROP INDEX webhook_attempts_by_endpoint;
CREATE INDEX webhook_endpoints_by_account_time ON webhook_endpoints (account_id, created_at, id);
