-- Connect links (POST /v1/connect-links): a short-lived, single-use URL that starts an
-- authorization in a browser holding no API key. The token is only in the URL handed out; this is
-- its SHA-256 (hex). Opening the link claims it (used_at = 0 -> now) and makes the session the row
-- describes, in the row's account.
CREATE TABLE oauth_connect_links (
    token_hash TEXT PRIMARY KEY,
    id TEXT NOT NULL,
    account_id TEXT NOT NULL,
    provider TEXT NOT NULL,
    end_user_id TEXT NOT NULL,
    -- The session's redirect URI ('' when it names none).
    redirect_uri TEXT NOT NULL,
    -- Space-separated; '' for the provider's defaults.
    scopes TEXT NOT NULL,
    -- 'exchange' or 'callback', as oauth_sessions.flow.
    flow TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    -- 0 until the link is opened.
    used_at BIGINT NOT NULL
);

-- Links a day past their expiry are removed when the next one is minted.
CREATE INDEX oauth_connect_links_by_expiry ON oauth_connect_links (expires_at);
