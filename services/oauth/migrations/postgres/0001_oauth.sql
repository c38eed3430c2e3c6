-- OAuth state of the oauth service. Tokens are never here: they live in the vault under
-- connection/<id>. Accounts live in agent-token (maybe another database): no foreign keys.

-- Authorization sessions: one row per POST /oauth/sessions, consumed once by the callback.
CREATE TABLE oauth_sessions (
    -- SHA-256 (hex) of the single-use state; the state itself is only in the authorization URL.
    state_hash TEXT PRIMARY KEY,
    id TEXT NOT NULL,
    account_id TEXT NOT NULL,
    provider TEXT NOT NULL,
    -- '' when the session named none.
    redirect_uri TEXT NOT NULL,
    end_user_id TEXT NOT NULL,
    -- Space-separated, as OAuth writes scopes.
    scopes TEXT NOT NULL,
    -- The PKCE S256 verifier: useless without the code, which only the callback sees.
    pkce_verifier TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    -- 0 until the callback consumes the session.
    used_at BIGINT NOT NULL
);

-- One connection per (account, provider, end user). Its token set is the vault secret
-- connection/<id>; `token_version` is the vault version this row last saw written.
CREATE TABLE oauth_connections (
    id TEXT PRIMARY KEY,
    account_id TEXT NOT NULL,
    provider TEXT NOT NULL,
    end_user_id TEXT NOT NULL,
    -- active or needs_reauthorization.
    status TEXT NOT NULL,
    provider_email TEXT NOT NULL,
    scopes TEXT NOT NULL,
    -- Unix ms; 0 when the token does not expire.
    expires_at BIGINT NOT NULL,
    token_version BIGINT NOT NULL,
    -- The refresh lease: who refreshes now, and until when (0: nobody).
    lease_holder TEXT NOT NULL,
    lease_until BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

CREATE UNIQUE INDEX oauth_connections_by_owner ON oauth_connections (account_id, provider, end_user_id);

-- The redirect URIs an account's sessions may name, matched exactly.
CREATE TABLE oauth_redirect_uris (
    account_id TEXT NOT NULL,
    uri TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (account_id, uri)
);
