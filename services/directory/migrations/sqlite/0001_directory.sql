-- AuthOS's model. The account lives in agent-token (possibly another database), so there is no
-- foreign key to it; every query names the account. Times are Unix milliseconds.
CREATE TABLE directory_organizations (
    id TEXT PRIMARY KEY,
    account_id TEXT NOT NULL,
    slug TEXT NOT NULL,
    name TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    UNIQUE (account_id, slug)
);

CREATE TABLE directory_services (
    id TEXT PRIMARY KEY,
    account_id TEXT NOT NULL,
    organization_id TEXT NOT NULL REFERENCES directory_organizations (id),
    slug TEXT NOT NULL,
    name TEXT NOT NULL,
    service_type TEXT NOT NULL,
    description TEXT NOT NULL,
    -- JSON arrays of strings.
    redirect_uris TEXT NOT NULL,
    allowed_providers TEXT NOT NULL,
    scopes TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    UNIQUE (organization_id, slug)
);

CREATE INDEX directory_services_by_account ON directory_services (account_id);

-- A service API key: only the SHA-256 of its secret is kept.
CREATE TABLE directory_service_keys (
    id TEXT PRIMARY KEY,
    account_id TEXT NOT NULL,
    service_id TEXT NOT NULL REFERENCES directory_services (id),
    name TEXT NOT NULL,
    prefix TEXT NOT NULL,
    secret_hash TEXT NOT NULL UNIQUE,
    -- Space-separated: service:read, service:write.
    permissions TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE INDEX directory_service_keys_by_service ON directory_service_keys (service_id);

CREATE TABLE directory_users (
    id TEXT PRIMARY KEY,
    account_id TEXT NOT NULL,
    service_id TEXT NOT NULL REFERENCES directory_services (id),
    email TEXT NOT NULL,
    -- The email lowercased: unique in its service.
    email_key TEXT NOT NULL,
    name TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    UNIQUE (service_id, email_key)
);

CREATE INDEX directory_users_by_service ON directory_users (service_id, created_at, id);
CREATE INDEX directory_users_by_account ON directory_users (account_id);

-- At most one subscription per user.
CREATE TABLE directory_subscriptions (
    service_id TEXT NOT NULL REFERENCES directory_services (id),
    user_id TEXT NOT NULL REFERENCES directory_users (id),
    account_id TEXT NOT NULL,
    plan_id TEXT NOT NULL,
    status TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (service_id, user_id)
);
