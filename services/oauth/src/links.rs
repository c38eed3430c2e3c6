//! Connect links (`POST /v1/connect-links`): a short-lived, single-use URL that starts an
//! authorization in a browser that holds no API key (AGNT's `GET /auth/google`, opened by the end
//! user). Minting checks everything a session would check, now, and stores the link's parameters
//! with the SHA-256 of a fresh random token; the token is only in the URL handed out. Opening the
//! link claims it with one conditional UPDATE (of two opens exactly one proceeds) and makes the
//! session it describes, in the account that minted it: nothing the browser sends can change the
//! account, provider, end user, redirect URI, scopes or flow.

use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD};
use latchkey_ids::{AccountId, ConnectLinkId};
use latchkey_storage::{now_ms, sqlx};
use rand::RngExt;

use crate::{NewSession, Oauth, OauthError, SessionFlow, SessionRequest, sessions::digest};

/// Random bytes in a link's token (256 bits; 43 base64url characters).
const TOKEN_BYTES: usize = 32;
/// The length of a token as written in a link.
pub const TOKEN_LEN: usize = 43;
/// How long a used or expired link is kept, so that opening it again says so rather than "unknown".
const KEPT_AFTER_EXPIRY_MS: i64 = 24 * 60 * 60 * 1000;

/// A minted link. `Debug` hides the token, which is shown to the caller once.
#[derive(Clone)]
pub struct ConnectLink {
    pub id: ConnectLinkId,
    /// The secret the URL carries (`?link=`); only its SHA-256 is stored.
    pub token: String,
    pub provider: String,
    pub end_user_id: String,
    /// The session's redirect URI: as asked, or for the exchange flow the account's only one.
    pub redirect_uri: String,
    pub scopes: Vec<String>,
    pub flow: SessionFlow,
    pub expires_at_ms: i64,
    pub created_at_ms: i64,
}

impl std::fmt::Debug for ConnectLink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConnectLink")
            .field("id", &self.id)
            .field("token", &"<redacted>")
            .field("provider", &self.provider)
            .field("flow", &self.flow)
            .field("expires_at_ms", &self.expires_at_ms)
            .finish_non_exhaustive()
    }
}

/// Whether `token` can be a link's token at all (what a link holds is never looked up otherwise).
pub fn well_formed(token: &str) -> bool {
    token.len() == TOKEN_LEN
        && token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

type LinkRow = (String, String, String, String, String, String, i64);

impl Oauth {
    /// Mints a link for `account` that starts the session `request` describes when opened. What a
    /// session would refuse is refused now, naming the field.
    pub async fn create_connect_link(
        &self,
        account: &AccountId,
        request: SessionRequest,
    ) -> Result<ConnectLink, OauthError> {
        let prepared = self.prepare_session(account, &request).await?;
        let provider = prepared.provider.code.clone();
        // Stored as asked: the provider's defaults are taken when the session is made, so that a
        // link asking for none follows the catalogue.
        let scopes = request.scopes.clone();
        let redirect_uri = prepared.redirect_uri;
        let random: [u8; TOKEN_BYTES] = rand::rng().random();
        let token = URL_SAFE_NO_PAD.encode(random);
        let id = ConnectLinkId::new();
        let now = now_ms();
        let ttl = i64::try_from(self.config.connect_link_ttl_secs).unwrap_or(600);
        let expires_at_ms = now + ttl.saturating_mul(1000);
        let mut tx = self.db.begin_write().await?;
        sqlx::query("DELETE FROM oauth_connect_links WHERE expires_at < $1")
            .bind(now - KEPT_AFTER_EXPIRY_MS)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "INSERT INTO oauth_connect_links (token_hash, id, account_id, provider, end_user_id, redirect_uri, \
             scopes, flow, created_at, expires_at, used_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 0)",
        )
        .bind(digest(&token))
        .bind(id.as_str())
        .bind(account.as_str())
        .bind(&provider)
        .bind(&request.end_user_id)
        .bind(&redirect_uri)
        .bind(scopes.join(" "))
        .bind(request.flow.as_str())
        .bind(now)
        .bind(expires_at_ms)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(ConnectLink {
            id,
            token,
            provider,
            end_user_id: request.end_user_id,
            redirect_uri,
            scopes,
            flow: request.flow,
            expires_at_ms,
            created_at_ms: now,
        })
    }

    /// Opens the link `token` at `provider`'s route (empty: at a route that names no provider, the
    /// hosted re-consent page): claims it (once) and starts its session in the account that minted
    /// it. An unknown, used or expired link, or one opened at another provider's route (which does
    /// not use it up), starts nothing.
    pub async fn open_connect_link(&self, provider: &str, token: &str) -> Result<NewSession, OauthError> {
        if !well_formed(token) {
            return Err(OauthError::LinkUnknown);
        }
        let token_hash = digest(token);
        let now = now_ms();
        let claimed = sqlx::query(
            "UPDATE oauth_connect_links SET used_at = $1 WHERE token_hash = $2 AND ($3 = '' OR provider = $3) \
             AND used_at = 0",
        )
        .bind(now)
        .bind(&token_hash)
        .bind(provider)
        .execute(self.db.pool())
        .await?
        .rows_affected();
        let row: Option<LinkRow> = sqlx::query_as(
            "SELECT account_id, provider, end_user_id, redirect_uri, scopes, flow, expires_at FROM \
             oauth_connect_links WHERE token_hash = $1",
        )
        .bind(&token_hash)
        .fetch_optional(self.db.pool())
        .await?;
        let Some((account, link_provider, end_user_id, redirect_uri, scopes, flow, expires_at_ms)) = row else {
            return Err(OauthError::LinkUnknown);
        };
        if claimed != 1 {
            if !provider.is_empty() && link_provider != provider {
                return Err(OauthError::field(
                    "provider",
                    format!("this link starts {link_provider}: open it at /auth/{link_provider}"),
                ));
            }
            return Err(OauthError::LinkUsed);
        }
        if expires_at_ms <= now {
            return Err(OauthError::LinkExpired);
        }
        let corrupt = |what: &str, reason: String| OauthError::Corrupt {
            what: what.to_owned(),
            reason,
        };
        // The row's account was a mesh caller's; one that no longer parses is stored data gone bad.
        let account =
            AccountId::try_from(account).map_err(|error| corrupt("a connect link's account", error.to_string()))?;
        let flow = SessionFlow::of(&flow).ok_or_else(|| corrupt("a connect link's flow", flow.clone()))?;
        let request = SessionRequest {
            provider: link_provider,
            redirect_uri,
            scopes: scopes.split_whitespace().map(str::to_owned).collect(),
            end_user_id,
            flow,
        };
        let started = match self.prepare_session(&account, &request).await {
            Ok(prepared) => self.start_session(&account, prepared, &request.end_user_id, flow).await,
            Err(error) => Err(error),
        };
        if let Err(error) = &started
            && !matches!(error, OauthError::Invalid(_))
        {
            // A failure of ours or the provider's (not of the link): the link can be opened again.
            sqlx::query("UPDATE oauth_connect_links SET used_at = 0 WHERE token_hash = $1 AND used_at = $2")
                .bind(&token_hash)
                .bind(now)
                .execute(self.db.pool())
                .await?;
        }
        started
    }
}

#[cfg(test)]
mod tests;
