-- The directory service an entry's event happened in (its data's `service_id`), outside the hash:
-- a service's analytics count their own events. Empty for every other event.
ALTER TABLE audit_entries ADD COLUMN service_id TEXT NOT NULL DEFAULT '';

CREATE INDEX audit_entries_by_service ON audit_entries (account_id, service_id, time_ms);
