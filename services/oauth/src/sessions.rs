//! Authorization sessions: `POST /oauth/sessions` and AGNT's `GET /auth/{provider}` make one
//! (single-use random state, PKCE S256, expiry). A callback-flow session is consumed exactly once by
//! the callback, which exchanges the code and stores the connection; whatever goes wrong at the
//! provider becomes an outcome the end user is sent back with. An exchange-flow session is consumed
//! by `/auth/exchange` instead (exchange.rs); both turn the code into a connection here.

use latchkey_ids::{AccountId, ConnectionId, OAuthSessionId};
use latchkey_storage::{now_ms, sqlx};
use oauth2::url::Url;
use sha2::{Digest, Sha256};

use crate::{
    Oauth, OauthError, ProviderKind,
    catalogue::Provider,
    connections::StoredTokens,
    provider::{CodeGrant, TokenFailure},
};

/// The SHA-256 of `text`, hex: how a session's state is looked up without being stored.
pub(crate) fn digest(text: &str) -> String {
    hex::encode(Sha256::digest(text.as_bytes()))
}

/// How a session's authorization comes back (the `flow` column).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SessionFlow {
    /// The provider sends the end user to Latchkey's callback, which exchanges the code.
    #[default]
    Callback,
    /// AGNT's flow: the provider sends the end user to the client's own redirect URI, and the
    /// client's backend posts the code to `/auth/exchange`.
    Exchange,
}

impl SessionFlow {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Callback => "callback",
            Self::Exchange => "exchange",
        }
    }

    /// The flow a stored `flow` column names.
    pub(crate) fn of(stored: &str) -> Option<Self> {
        match stored {
            "callback" => Some(Self::Callback),
            "exchange" => Some(Self::Exchange),
            _ => None,
        }
    }
}

/// What a session is asked for.
#[derive(Clone, Debug, Default)]
pub struct SessionRequest {
    pub provider: String,
    /// Callback flow: where the end user lands afterwards; empty: Latchkey's own result page.
    /// Exchange flow: the redirect URI the provider is given; empty: the account's one allowed URI.
    pub redirect_uri: String,
    pub scopes: Vec<String>,
    pub end_user_id: String,
    pub flow: SessionFlow,
}

/// What a session is made from, checked and resolved.
pub(crate) struct PreparedSession<'a> {
    pub(crate) provider: &'a Provider,
    pub(crate) redirect_uri: String,
    pub(crate) scopes: Vec<String>,
    pub(crate) app: crate::ClientCredentials,
}

/// A session taken for a code exchange (already marked used).
pub(crate) struct ClaimedSession {
    pub(crate) account: AccountId,
    pub(crate) provider: String,
    pub(crate) redirect_uri: String,
    pub(crate) end_user_id: String,
    pub(crate) scopes: Vec<String>,
    pub(crate) pkce_verifier: String,
    pub(crate) expires_at_ms: i64,
}

/// A code turned into a stored connection.
pub(crate) struct Connected {
    pub(crate) connection_id: ConnectionId,
    pub(crate) scopes: Vec<String>,
    pub(crate) expires_at_ms: i64,
}

/// A session made: where the end user goes.
#[derive(Clone, Debug)]
pub struct NewSession {
    pub id: OAuthSessionId,
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
    /// The connection made, when `outcome` is `connected`.
    pub connection_id: Option<ConnectionId>,
    pub message: String,
}

type SessionRow = (String, String, String, String, String, String, i64);

const SESSION_COLUMNS: &str = "account_id, provider, redirect_uri, end_user_id, scopes, pkce_verifier, expires_at";

const MAX_SCOPES: usize = 50;

fn valid_scope(scope: &str) -> bool {
    !scope.is_empty() && scope.len() <= 256 && scope.chars().all(|c| c.is_ascii_graphic() && c != '"' && c != '\\')
}

impl Oauth {
    /// The catalogue entry of `code`, when enabled and an OAuth provider.
    pub(crate) fn oauth2_provider(&self, code: &str) -> Result<&Provider, OauthError> {
        let provider = self.provider(code)?;
        if provider.kind != ProviderKind::Oauth2 {
            return Err(OauthError::field(
                "provider",
                format!(
                    "{} is not an OAuth provider: store its credential with PUT /credentials",
                    provider.code
                ),
            ));
        }
        Ok(provider)
    }

    /// An exchange-flow session's redirect URI: the one asked for, or the account's only one.
    async fn exchange_redirect_uri(&self, account: &AccountId, asked: &str) -> Result<String, OauthError> {
        if !asked.is_empty() {
            return Ok(asked.to_owned());
        }
        let mut allowed = self.redirect_uris(account).await?;
        if allowed.len() == 1 {
            return Ok(allowed.remove(0));
        }
        Err(OauthError::field(
            "redirectUri",
            "required unless the account has exactly one allowed redirect URI (PUT /oauth/redirect-uris)",
        ))
    }

    /// Checks what `request` asks of `account` and resolves it (the redirect URI of an exchange-flow
    /// session, the provider's default scopes, the OAuth app), without starting anything: what a
    /// session is made from, now (`create_session`) or when a connect link is opened.
    pub(crate) async fn prepare_session(
        &self,
        account: &AccountId,
        request: &SessionRequest,
    ) -> Result<PreparedSession<'_>, OauthError> {
        let provider = self.oauth2_provider(&request.provider)?;
        let redirect_uri = match request.flow {
            SessionFlow::Callback => request.redirect_uri.clone(),
            SessionFlow::Exchange => self.exchange_redirect_uri(account, &request.redirect_uri).await?,
        };
        if !redirect_uri.is_empty() {
            self.require_acceptable_redirect_uri(account, &redirect_uri).await?;
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
        Ok(PreparedSession {
            provider,
            redirect_uri,
            scopes,
            app,
        })
    }

    /// Starts an authorization for `account`.
    pub async fn create_session(&self, account: &AccountId, request: SessionRequest) -> Result<NewSession, OauthError> {
        let prepared = self.prepare_session(account, &request).await?;
        self.start_session(account, prepared, &request.end_user_id, request.flow)
            .await
    }

    /// Makes the session `prepared` describes: its authorization URL and its row.
    pub(crate) async fn start_session(
        &self,
        account: &AccountId,
        prepared: PreparedSession<'_>,
        end_user_id: &str,
        flow: SessionFlow,
    ) -> Result<NewSession, OauthError> {
        let PreparedSession {
            provider,
            redirect_uri,
            scopes,
            app,
        } = prepared;
        let endpoints = self.providers.endpoints(provider).await?;
        // The provider is given the gateway's callback, or in AGNT's flow the client's own URI.
        let provider_redirect_uri = match flow {
            SessionFlow::Callback => self.providers.callback_url(),
            SessionFlow::Exchange => redirect_uri.as_str(),
        };
        let authorization = self
            .providers
            .authorization(provider, &endpoints, &app, &scopes, provider_redirect_uri)?;
        let now = now_ms();
        let expires_at_ms = now + i64::try_from(self.config.session_ttl_secs).unwrap_or(600) * 1000;
        let id = OAuthSessionId::new();
        sqlx::query(
            "INSERT INTO oauth_sessions (state_hash, id, account_id, provider, redirect_uri, end_user_id, scopes, \
             pkce_verifier, created_at, expires_at, used_at, flow) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 0, \
             $11)",
        )
        .bind(digest(&authorization.state))
        .bind(id.as_str())
        .bind(account.as_str())
        .bind(&provider.code)
        .bind(&redirect_uri)
        .bind(end_user_id)
        .bind(scopes.join(" "))
        .bind(&authorization.pkce_verifier)
        .bind(now)
        .bind(expires_at_ms)
        .bind(flow.as_str())
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
            connection_id: None,
            message: message.to_owned(),
        };
        if state.is_empty() {
            return Ok(untrusted("invalid_state", "the callback carries no state"));
        }
        let now = now_ms();
        let Some(session) = self
            .claim_session(&digest(state), SessionFlow::Callback, None, now)
            .await?
        else {
            return Ok(untrusted(
                "invalid_state",
                "this authorization link is unknown or was already used; start a new session",
            ));
        };
        let provider_code = session.provider.clone();
        let finish = |outcome: &str, message: String, connection_id: Option<ConnectionId>| {
            let mut redirect_to = None;
            if let Ok(mut url) = Url::parse(&session.redirect_uri) {
                {
                    let mut query = url.query_pairs_mut();
                    query.append_pair("provider", &provider_code);
                    if let Some(connection_id) = &connection_id {
                        query.append_pair("status", "connected");
                        query.append_pair("connection_id", connection_id.as_str());
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
        if session.expires_at_ms <= now {
            return Ok(finish(
                "session_expired",
                "the authorization took longer than the session allows; start again".to_owned(),
                None,
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
            return Ok(finish(outcome, message, None));
        }
        if code.is_empty() {
            return Ok(finish(
                "invalid_request",
                "the callback carries no code".to_owned(),
                None,
            ));
        }
        let callback_url = self.providers.callback_url().to_owned();
        match self.connect_with_code(&session, code, &callback_url).await? {
            Ok(connected) => Ok(finish(
                "connected",
                format!("{provider_code} is connected"),
                Some(connected.connection_id),
            )),
            Err(TokenFailure::Refused { error }) => Ok(finish(
                &error,
                format!("{provider_code} refused the authorization code"),
                None,
            )),
            Err(TokenFailure::Unreachable { reason }) => {
                tracing::warn!(provider = %provider_code, reason = %reason, "code exchange failed");
                Ok(finish(
                    "temporarily_unavailable",
                    format!("{provider_code} could not be reached; try again"),
                    None,
                ))
            }
        }
    }

    /// Marks the unused `flow` session of `state_hash` used and answers it; `None` when there is
    /// none (unknown, already used, of the other flow, or, with `account`, another account's).
    /// Claiming and checking it was unused are one statement: of two claims, exactly one wins.
    pub(crate) async fn claim_session(
        &self,
        state_hash: &str,
        flow: SessionFlow,
        account: Option<&AccountId>,
        now: i64,
    ) -> Result<Option<ClaimedSession>, OauthError> {
        let claimed = sqlx::query(
            "UPDATE oauth_sessions SET used_at = $1 WHERE state_hash = $2 AND used_at = 0 AND flow = $3 \
             AND ($4 = '' OR account_id = $4)",
        )
        .bind(now)
        .bind(state_hash)
        .bind(flow.as_str())
        .bind(account.map(AccountId::as_str).unwrap_or_default())
        .execute(self.db.pool())
        .await?
        .rows_affected();
        if claimed != 1 {
            return Ok(None);
        }
        let (account, provider, redirect_uri, end_user_id, scopes, pkce_verifier, expires_at_ms): SessionRow =
            sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "SELECT {SESSION_COLUMNS} FROM oauth_sessions WHERE state_hash = $1"
            )))
            .bind(state_hash)
            .fetch_one(self.db.pool())
            .await?;
        // The row's account was a mesh caller's; one that no longer parses is stored data gone bad.
        let account = AccountId::try_from(account).map_err(|error| OauthError::Corrupt {
            what: "an OAuth session's account".to_owned(),
            reason: error.to_string(),
        })?;
        Ok(Some(ClaimedSession {
            account,
            provider,
            redirect_uri,
            end_user_id,
            scopes: scopes.split_whitespace().map(str::to_owned).collect(),
            pkce_verifier,
            expires_at_ms,
        }))
    }

    /// Exchanges `code` for the claimed session (the callback's and `/auth/exchange`'s one path):
    /// tokens with the session's PKCE verifier and `provider_redirect_uri`, the provider account's
    /// email, then the connection stored with `connection.created`. A refused or failed exchange is
    /// the inner error: what it means to the caller depends on the flow.
    pub(crate) async fn connect_with_code(
        &self,
        session: &ClaimedSession,
        code: &str,
        provider_redirect_uri: &str,
    ) -> Result<Result<Connected, TokenFailure>, OauthError> {
        let provider = self.oauth2_provider(&session.provider)?;
        let app = self
            .providers
            .app(&self.vault, &session.account, &provider.code)
            .await?;
        let endpoints = self.providers.endpoints(provider).await?;
        let grant = CodeGrant {
            code,
            pkce_verifier: &session.pkce_verifier,
            redirect_uri: provider_redirect_uri,
        };
        let tokens = match self
            .providers
            .exchange_code(&endpoints, &app, grant, &session.scopes, now_ms())
            .await
        {
            Ok(tokens) => tokens,
            Err(failure) => return Ok(Err(failure)),
        };
        let email = self.providers.email(&endpoints, &tokens.access_token).await;
        let connection_id = self
            .store_connection(
                &session.account,
                StoredTokens {
                    provider: &provider.code,
                    end_user_id: &session.end_user_id,
                    email: &email,
                    tokens: &tokens,
                },
            )
            .await?;
        Ok(Ok(Connected {
            connection_id,
            scopes: tokens.scopes.clone(),
            expires_at_ms: tokens.expires_at_ms,
        }))
    }
}
