-- How a session's authorization comes back: 'callback' (the provider sends the end user to
-- Latchkey's callback, which exchanges the code) or 'exchange' (AGNT's flow: the provider sends the
-- end user to the client's own redirect URI, and the client's backend posts the code to
-- /auth/exchange). Each path consumes only its own kind of session.
ALTER TABLE oauth_sessions ADD COLUMN flow TEXT NOT NULL DEFAULT 'callback';

-- /auth/exchange without a state finds the account's newest usable session for a provider and
-- redirect URI.
CREATE INDEX oauth_sessions_by_client ON oauth_sessions (account_id, provider, redirect_uri, flow, created_at);
