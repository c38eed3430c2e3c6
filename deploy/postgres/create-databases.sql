-- One database per Latchkey service: no service reads another's tables (ARCHITECTURE.md), and separate
-- databases make that a boundary rather than a convention. Run once by the postgres image on an empty
-- data volume (/docker-entrypoint-initdb.d). The gateway is stateless and has none.
CREATE DATABASE latchkey_agent_token;
CREATE DATABASE latchkey_audit;
CREATE DATABASE latchkey_policy;
CREATE DATABASE latchkey_vault;
CREATE DATABASE latchkey_oauth;
CREATE DATABASE latchkey_webhook;
CREATE DATABASE latchkey_directory;
