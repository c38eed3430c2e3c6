// The one list of wire fields that hold a secret. build.rs includes this file and gives every
// message named here a `Debug` that prints `<redacted>` for these fields (and the derived output for
// the others); the redaction tests (src/redact/tests.rs) read it too, and fail when a field named
// like a secret is neither here nor on their allow-list of fields that only look like one.

/// Every proto field holding a secret, as `package.Message.field`. A field added here is redacted
/// at the next build; a name that matches no field fails the build.
pub const SECRET_FIELDS: &[&str] = &[
    // Account API keys and agent secret keys: the credential itself.
    "latchkey.agent_token.v1.AuthenticateApiKeyRequest.secret",
    "latchkey.agent_token.v1.CreatedApiKey.secret",
    "latchkey.agent_token.v1.CreateAgentResponse.secret_key",
    "latchkey.agent_token.v1.IssueTokenRequest.agent_secret",
    // Agent tokens: issued, checked, revoked, delegated. Each is a bearer credential until it expires.
    "latchkey.agent_token.v1.IssueTokenResponse.token",
    "latchkey.agent_token.v1.TokenCheck.token",
    "latchkey.agent_token.v1.RevokeTokenRequest.token",
    "latchkey.agent_token.v1.DelegateTokenRequest.token",
    "latchkey.agent_token.v1.AuthorizeTokenUseRequest.token",
    // Certificates: the private key, returned once at creation, and the JWTs signed with one.
    "latchkey.agent_token.v1.CreatedCertificate.private_key",
    "latchkey.agent_token.v1.AuthenticateCertificateJwtRequest.token",
    // Console sessions: the credential a person signs in with (an API key or a certificate JWT), and
    // the session's token, a bearer credential (the console's cookie) until the session ends.
    "latchkey.agent_token.v1.StartConsoleSessionRequest.credential",
    "latchkey.agent_token.v1.StartedConsoleSession.token",
    "latchkey.agent_token.v1.ResolveConsoleSessionRequest.token",
    "latchkey.agent_token.v1.EndConsoleSessionRequest.token",
    // Vault plaintext, both ways.
    "latchkey.vault.v1.PutSecretRequest.plaintext",
    "latchkey.vault.v1.GetSecretResponse.plaintext",
    // OAuth: authorization codes, the single-use state that binds a code to its session (also inside
    // the authorization URL), provider tokens, an account's client secret, Telegram's api_hash.
    "latchkey.oauth.v1.CreateSessionResponse.url",
    "latchkey.oauth.v1.CompleteCallbackRequest.code",
    "latchkey.oauth.v1.CompleteCallbackRequest.state",
    "latchkey.oauth.v1.ExchangeCodeRequest.code",
    "latchkey.oauth.v1.ExchangeCodeRequest.state",
    "latchkey.oauth.v1.FetchTokenResponse.access_token",
    "latchkey.oauth.v1.FetchTokenResponse.api_hash",
    "latchkey.oauth.v1.SetOauthAppRequest.client_secret",
    // Connect links: the token is a bearer credential for one authorization until it is used.
    "latchkey.oauth.v1.ConnectLink.token",
    "latchkey.oauth.v1.OpenConnectLinkRequest.token",
    // An MTProto session: the session string is a logged-in Telegram session; the api hash its app's.
    "latchkey.oauth.v1.SetMtprotoSessionRequest.session_string",
    "latchkey.oauth.v1.SetMtprotoSessionRequest.api_hash",
    // A provider credential as the proxy sends it (`Bearer …`, a key, Basic credentials).
    "latchkey.oauth.v1.ProxyCredential.header_value",
    // A service API key: the credential itself, answered once and then only presented.
    "latchkey.directory.v1.CreatedServiceKey.secret",
    "latchkey.directory.v1.AuthenticateServiceKeyRequest.secret",
    // A webhook endpoint's signing secret.
    "latchkey.webhook.v1.EndpointWithSecret.secret",
];
