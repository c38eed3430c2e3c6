-- Where the endpoint's signing secrets live: 0 in this table (secret, previous_secret), otherwise the
-- vault's version of secret `webhook/<endpoint id>`, and the columns are empty.
ALTER TABLE webhook_endpoints ADD COLUMN secret_version BIGINT NOT NULL DEFAULT 0;
