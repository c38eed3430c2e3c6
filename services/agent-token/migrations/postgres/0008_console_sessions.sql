-- Console sessions (docs/console.md): a person signed in to the web console with an account
-- credential. The session's token is the console's cookie; only its SHA-256 is stored.
CREATE TABLE console_sessions (
    id TEXT PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES accounts (id),
    -- The API key (key_…) or certificate (cert_…) that signed in: the session ends with it.
    actor_id TEXT NOT NULL,
    -- SHA-256 of the whole token, lowercase hex; the token itself is never stored.
    token_hash TEXT NOT NULL UNIQUE,
    created_at BIGINT NOT NULL,
    -- The last use recorded (at most once a minute): idle past agent_token.console_session_idle_secs
    -- after it, the session has ended.
    last_seen_at BIGINT NOT NULL,
    -- When it ends regardless: created_at plus agent_token.console_session_max_secs.
    expires_at BIGINT NOT NULL
);

CREATE INDEX console_sessions_by_account ON console_sessions (account_id, created_at);
