//! Authorization sessions: `POST /oauth/sessions` makes one (single-use random state, PKCE S256,
//! expiry), and the callback consumes it exactly once, exchanges the code and stores the connection.
//! Whatever goes wrong at the provider becomes an outcome the end user is sent back with.

use latchkey_storage::{now_ms, sqlx};
use oauth2::url::Url;

use crate::{
    Oauth, OauthError, ProviderKind,
    connections::StoredTokens,
    ids::{digest, new_id},
    provider::TokenFailure,
};

/// What a session is asked for.
#[derive(Clone, Debug, Default)]
pub struct SessionRequest {
    pub provider: String,
    /// Empty: the callback ends on Latchkey's own result page.
    pub redirect_uri: String,
    pub scopes: Vec<String>,
    pub end_user_id: String,
}

/// A session made: where the end user goes.
#[derive(Clone, Debug)]
pub struct NewSession {
    pub id: String,
    pub url: String,
    pub expires_at_ms: i64,
}

/// How a callback ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CallbackOutcome {
    /// The session's redirect URI with the outcome in its query; `None` when the session named
    /// none, or when no session can be trusted (unknown or replayed state).
    pub redirect_to: Option<String>,
    /// `connected`, or an error code: the provider's (`access_denied`, `invalid_grant`, …) or ours
    /// (`invalid_state`, `session_expired`, `temporarily_unavailable`).
    pub outcome: String,
    pub provider: String,
    pub connection_id: String,
    pub message: String,
}

type SessionRow = (String, String, String, String, String, String, String, i64);

const MAX_SCOPES: usize = 50;

fn valid_scope(scope: &str) -> bool {
    !scope.is_empty() && scope.len() <= 256 && scope.chars().all(|c| c.is_ascii_graphic() && c != '"' && c != '\\')
}

impl Oauth {
    /// Starts an authorization for `account`.
    pub async fn create_session(&self, account: &str, request: SessionRequest) -> Result<NewSession, OauthError> {
        let provider = self.provider(&request.provider)?;
        if provider.kind != ProviderKind::Oauth2 {
            return Err(OauthError::field(
                "provider",
                format!(
                    "{} is not an OAuth provider: store its credential with PUT /credentials",
                    provider.code
                ),
            ));
        }
        if !request.redirect_uri.is_empty() && !self.redirect_uri_allowed(account, &request.redirect_uri).await? {
            return Err(OauthError::field(
                "redirectUri",
                "not among the account's allowed redirect URIs (exact match); add it with PUT /oauth/redirect-uris",
            ));
        }
        if request.end_user_id.len() > 256 {
            return Err(OauthError::field("endUserId", "at most 256 characters"));
        }
        let scopes = if request.scopes.is_empty() {
            provider.default_scopes.clone()
        } else {
            request.scopes.clone()
        };
        if scopes.len() > MAX_SCOPES {
            return Err(OauthError::field("scopes", format!("at most {MAX_SCOPES} scopes")));
        }
        if let Some(index) = scopes.iter().position(|scope| !valid_scope(scope)) {
            return Err(OauthError::field(
                &format!("scopes[{index}]"),
                "a scope is printable ASCII without spaces",
            ));
        }
        let app = self.providers.app(&self.vault, account, &provider.code).await?;
        let endpoints = self.providers.endpoints(provider).await?;
        let authorization = self.providers.authorization(provider, &endpoints, &app, &scopes)?;
        let now = now_ms();
        let expires_at_ms = now + i64::try_from(self.config.session_ttl_secs).unwrap_or(600) * 1000;
        let id = new_id("oas");
        sqlx::query(
            "INSERT INTO oauth_sessions (state_hash, id, account_id, provider, redirect_uri, end_user_id, scopes, \
             pkce_verifier, created_at, expires_at, used_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 0)",
        )
        .bind(digest(&authorization.state))
        .bind(&id)
        .bind(account)
        .bind(&provider.code)
        .bind(&request.redirect_uri)
        .bind(&request.end_user_id)
        .bind(scopes.join(" "))
        .bind(&authorization.pkce_verifier)
        .bind(now)
        .bind(expires_at_ms)
        .execute(self.db.pool())
        .await?;
        Ok(NewSession {
            id,
            url: authorization.url,
            expires_at_ms,
        })
    }

    /// The provider sent the end user back with `state` and either `code` or `error`.
    pub async fn complete_callback(
        &self,
        state: &str,
        code: &str,
        error: &str,
        error_description: &str,
    ) -> Result<CallbackOutcome, OauthError> {
        let untrusted = |outcome: &str, message: &str| CallbackOutcome {
            redirect_to: None,
            outcome: outcome.to_owned(),
            provider: String::new(),
            connection_id: String::new(),
            message: message.to_owned(),
        };
        if state.is_empty() {
            return Ok(untrusted("invalid_state", "the callback carries no state"));
        }
        let state_hash = digest(state);
        let now = now_ms();
        // Claiming the session and checking it was unused are one statement: of two callbacks
        // with the same state, exactly one wins.
        let claimed = sqlx::query("UPDATE oauth_sessions SET used_at = $1 WHERE state_hash = $2 AND used_at = 0")
            .bind(now)
            .bind(&state_hash)
            .execute(self.db.pool())
            .await?
            .rows_affected();
        if claimed != 1 {
            return Ok(untrusted(
                "invalid_state",
                "this authorization link is unknown or was already used; start a new session",
            ));
        }
        let (account, provider_code, redirect_uri, end_user_id, scopes, pkce_verifier, _id, expires_at): SessionRow =
            sqlx::query_as(
                "SELECT account_id, provider, redirect_uri, end_user_id, scopes, pkce_verifier, id, expires_at \
                 FROM oauth_sessions WHERE state_hash = $1",
            )
            .bind(&state_hash)
            .fetch_one(self.db.pool())
            .await?;
        let finish = |outcome: &str, message: String, connection_id: String| {
            let mut redirect_to = None;
            if let Ok(mut url) = Url::parse(&redirect_uri) {
                {
                    let mut query = url.query_pairs_mut();
                    query.append_pair("provider", &provider_code);
                    if outcome == "connected" {
                        query.append_pair("status", "connected");
                        query.append_pair("connection_id", &connection_id);
                    } else {
                        query.append_pair("status", "error");
                        query.append_pair("error", outcome);
                        query.append_pair("error_description", &message);
                    }
                }
                redirect_to = Some(url.to_string());
            }
            CallbackOutcome {
                redirect_to,
                outcome: outcome.to_owned(),
                provider: provider_code.clone(),
                connection_id,
                message,
            }
        };
        if expires_at <= now {
            return Ok(finish(
                "session_expired",
                "the authorization took longer than the session allows; start again".to_owned(),
                String::new(),
            ));
        }
        if !error.is_empty() {
            let message = if error_description.is_empty() {
                format!("{provider_code} answered {error}")
            } else {
                error_description.chars().take(300).collect()
            };
            let outcome = if error.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                error
            } else {
                "provider_error"
            };
            return Ok(finish(outcome, message, String::new()));
        }
        if code.is_empty() {
            return Ok(finish(
                "invalid_request",
                "the callback carries no code".to_owned(),
                String::new(),
            ));
        }
        let provider = self.provider(&provider_code)?;
        let app = self.providers.app(&self.vault, &account, &provider.code).await?;
        let endpoints = self.providers.endpoints(provider).await?;
        let requested: Vec<String> = scopes.split_whitespace().map(str::to_owned).collect();
        let tokens = match self
            .providers
            .exchange_code(&endpoints, &app, code.to_owned(), pkce_verifier, &requested, now_ms())
            .await
        {
            Ok(tokens) => tokens,
            Err(TokenFailure::Refused { error }) => {
                return Ok(finish(
                    &error,
                    format!("{provider_code} refused the authorization code"),
                    String::new(),
                ));
            }
            Err(TokenFailure::Unreachable { reason }) => {
                tracing::warn!(provider = %provider_code, reason = %reason, "code exchange failed");
                return Ok(finish(
                    "temporarily_unavailable",
                    format!("{provider_code} could not be reached; try again"),
                    String::new(),
                ));
            }
        };
        let email = self.providers.email(&endpoints, &tokens.access_token).await;
        let connection_id = self
            .store_connection(
                &account,
                StoredTokens {
                    provider: &provider.code,
                    end_user_id: &end_user_id,
                    email: &email,
                    tokens: &tokens,
                },
            )
            .await?;
        Ok(finish(
            "connected",
            format!("{provider_code} is connected"),
            connection_id,
        ))
    }
}
