-- Signing keys are sealed in the vault (secret `signing-key/<kid>` of the system account): a row
-- keeps the vault version of its key and an empty seed. 0 marks a row written before sealing, still
-- holding its plaintext seed; the service seals it into the vault on its next start.
ALTER TABLE signing_keys ADD COLUMN vault_version BIGINT NOT NULL DEFAULT 0;
