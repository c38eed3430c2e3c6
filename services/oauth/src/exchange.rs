//! AGNT's flow, second step: `POST /auth/exchange`. The provider sent the end user to the client's
//! own redirect URI with `code` (and `state`); the client's backend posts them here. The session is
//! the one `state` names; AGNT's clients send no state, and then the session is the account's only
//! pending exchange-flow session for the provider and redirect URI. With several pending, the code
//! could belong to any of them: the exchange is refused and none is touched, never a guess. The
//! session is consumed before the code is exchanged, so it is single-use even when the exchange fails.

use latchkey_ids::{AccountId, ConnectionId};
use latchkey_storage::{now_ms, sqlx};

use crate::{
    Oauth, OauthError,
    provider::TokenFailure,
    sessions::{ClaimedSession, SessionFlow, digest},
};

/// The longest authorization code accepted (providers' codes are well under 1 KiB).
const MAX_CODE_LEN: usize = 4096;

/// A code to exchange. `Debug` hides the code and the state.
#[derive(Clone, Default)]
pub struct ExchangeRequest {
    pub code: String,
    pub provider: String,
    pub redirect_uri: String,
    /// Empty: the account's only pending session for the provider and redirect URI.
    pub state: String,
}

impl std::fmt::Debug for ExchangeRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExchangeRequest")
            .field("code", &"<redacted>")
            .field("provider", &self.provider)
            .field("redirect_uri", &self.redirect_uri)
            .field("state", &"<redacted>")
            .finish()
    }
}

/// The connection an exchange stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Exchanged {
    pub provider: String,
    pub scopes: Vec<String>,
    /// 0 when the token does not expire.
    pub expires_at_ms: i64,
    pub connection_id: ConnectionId,
    pub end_user_id: String,
}

impl Oauth {
    /// Exchanges `request.code` for `account` and stores the connection.
    pub async fn exchange_code(&self, account: &AccountId, request: ExchangeRequest) -> Result<Exchanged, OauthError> {
        for (field, value) in [
            ("code", &request.code),
            ("provider", &request.provider),
            ("redirectUri", &request.redirect_uri),
        ] {
            if value.trim().is_empty() {
                return Err(OauthError::field(field, "required"));
            }
        }
        if request.code.len() > MAX_CODE_LEN {
            return Err(OauthError::field("code", format!("at most {MAX_CODE_LEN} characters")));
        }
        let provider = self.oauth2_provider(&request.provider)?.code.clone();
        self.require_acceptable_redirect_uri(account, &request.redirect_uri)
            .await?;
        let now = now_ms();
        let session = if request.state.is_empty() {
            self.claim_only_pending_session(account, &provider, &request.redirect_uri, now)
                .await?
        } else {
            self.claim_session(&digest(&request.state), SessionFlow::Exchange, Some(account), now)
                .await?
        }
        .ok_or(OauthError::NoSession)?;
        // The session is used from here on, whatever happens next.
        if session.expires_at_ms <= now {
            return Err(OauthError::SessionExpired);
        }
        if session.provider != provider {
            return Err(OauthError::field(
                "provider",
                format!("the authorization was started for {}", session.provider),
            ));
        }
        if session.redirect_uri != request.redirect_uri {
            return Err(OauthError::field(
                "redirectUri",
                "not the redirect URI of the authorization request (exact match)",
            ));
        }
        match self
            .connect_with_code(&session, &request.code, &session.redirect_uri)
            .await?
        {
            Ok(connected) => Ok(Exchanged {
                provider,
                scopes: connected.scopes,
                expires_at_ms: connected.expires_at_ms,
                connection_id: connected.connection_id,
                end_user_id: session.end_user_id,
            }),
            Err(TokenFailure::Refused { error }) => Err(OauthError::field(
                "code",
                format!("{provider} refused the authorization code ({error}); start a new authorization"),
            )),
            Err(TokenFailure::Unreachable { reason }) => Err(OauthError::Upstream { provider, reason }),
        }
    }

    /// Claims the account's one pending (unexpired, unused) exchange-flow session for `provider`
    /// and `redirect_uri`. Two or more pending: `VALIDATION_ERROR` naming `state`, and every one of
    /// them stays usable. The session claimed is the one counted, so a session started meanwhile is
    /// never taken in its place; a concurrent exchange that claimed it first leaves `None`.
    async fn claim_only_pending_session(
        &self,
        account: &AccountId,
        provider: &str,
        redirect_uri: &str,
        now: i64,
    ) -> Result<Option<ClaimedSession>, OauthError> {
        let pending: Vec<(String,)> = sqlx::query_as(
            "SELECT state_hash FROM oauth_sessions WHERE account_id = $1 AND provider = $2 AND redirect_uri = $3 \
             AND flow = $4 AND used_at = 0 AND expires_at > $5 LIMIT 2",
        )
        .bind(account.as_str())
        .bind(provider)
        .bind(redirect_uri)
        .bind(SessionFlow::Exchange.as_str())
        .bind(now)
        .fetch_all(self.db.pool())
        .await?;
        match pending.as_slice() {
            [] => Ok(None),
            [(state_hash,)] => {
                self.claim_session(state_hash, SessionFlow::Exchange, Some(account), now)
                    .await
            }
            _ => Err(OauthError::field(
                "state",
                format!(
                    "required: several authorizations of {provider} for this redirectUri are pending; send the \
                     state the provider returned with the code"
                ),
            )),
        }
    }
}
