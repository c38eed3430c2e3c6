//! The redirect URIs an account's sessions may name. Managed by the account itself (`PUT
//! /oauth/redirect-uris` replaces the list) and matched exactly, character for character: no
//! prefix, wildcard or normalisation, so an open redirect cannot be built from an allowed one.
//! An account without a list may name, per session, any `https` URI or an `http` one on a loopback
//! host (RFC 8252 §7.3), without userinfo or fragment: the session binds it, and only it.

use latchkey_ids::AccountId;
use latchkey_storage::{now_ms, sqlx};
use oauth2::url::Url;

use crate::{Oauth, OauthError};

pub(crate) use latchkey_server::redirect_uri::{MAX_LEN as MAX_URI_LEN, fault as unlisted_uri_fault};

const MAX_URIS: usize = 50;

fn check(index: usize, uri: &str) -> Result<(), OauthError> {
    let field = format!("redirectUris[{index}]");
    let url = Url::parse(uri).map_err(|_| OauthError::field(&field, "an absolute URL"))?;
    if !matches!(url.scheme(), "https" | "http") {
        return Err(OauthError::field(&field, "an http or https URL"));
    }
    if url.fragment().is_some() {
        return Err(OauthError::field(&field, "a redirect URI has no fragment"));
    }
    if uri.len() > MAX_URI_LEN {
        return Err(OauthError::field(&field, "at most 2048 characters"));
    }
    Ok(())
}

impl Oauth {
    /// Fails unless a session of `account` may name `uri`: one of its allowed redirect URIs (exact
    /// match) when it keeps a list, else an https (or loopback http) URI, see [`unlisted_uri_fault`].
    pub(crate) async fn require_acceptable_redirect_uri(
        &self,
        account: &AccountId,
        uri: &str,
    ) -> Result<(), OauthError> {
        // At most 50: the whole list tells both whether there is one and whether it holds `uri`.
        let listed = self.redirect_uris(account).await?;
        if listed.is_empty() {
            return match unlisted_uri_fault(uri) {
                None => Ok(()),
                Some(fault) => Err(OauthError::field("redirectUri", fault)),
            };
        }
        if listed.iter().any(|listed| listed == uri) {
            return Ok(());
        }
        Err(OauthError::field(
            "redirectUri",
            "not among the account's allowed redirect URIs (exact match); add it with PUT /oauth/redirect-uris",
        ))
    }

    /// Replaces the account's allowed redirect URIs.
    pub async fn set_redirect_uris(&self, account: &AccountId, uris: Vec<String>) -> Result<Vec<String>, OauthError> {
        if uris.len() > MAX_URIS {
            return Err(OauthError::field("redirectUris", format!("at most {MAX_URIS}")));
        }
        for (index, uri) in uris.iter().enumerate() {
            check(index, uri)?;
        }
        let mut unique = uris;
        unique.sort();
        unique.dedup();
        let mut tx = self.db.begin_write().await?;
        sqlx::query("DELETE FROM oauth_redirect_uris WHERE account_id = $1")
            .bind(account.as_str())
            .execute(&mut *tx)
            .await?;
        let now = now_ms();
        for uri in &unique {
            sqlx::query("INSERT INTO oauth_redirect_uris (account_id, uri, created_at) VALUES ($1, $2, $3)")
                .bind(account.as_str())
                .bind(uri)
                .bind(now)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(unique)
    }

    pub async fn redirect_uris(&self, account: &AccountId) -> Result<Vec<String>, OauthError> {
        let rows: Vec<(String,)> =
            sqlx::query_as("SELECT uri FROM oauth_redirect_uris WHERE account_id = $1 ORDER BY uri")
                .bind(account.as_str())
                .fetch_all(self.db.pool())
                .await?;
        Ok(rows.into_iter().map(|(uri,)| uri).collect())
    }
}

#[cfg(test)]
mod tests;
