//! An account's own OAuth apps: `PUT/GET/DELETE /v1/oauth-apps`. The app (client id and secret) is
//! the write-only vault secret `oauth-app/<provider>` that `Providers::app` reads for every session,
//! exchange, callback, refresh and revocation of the account, so a registered app is used from the
//! next call on and a removed one falls back to the deployment's. Listing opens each app for the
//! service's own use and answers the client id and the secret's last four characters, never more.

use latchkey_events::{Envelope, catalogue::OauthAppUpdated};
use latchkey_ids::AccountId;
use serde::Serialize;

use crate::{
    EVENT_SOURCE, Oauth, OauthError,
    config::ClientCredentials,
    vault::{Opened, Written},
};

const SECRET_PREFIX: &str = "oauth-app/";
const MAX_CLIENT_ID_LEN: usize = 512;
const MAX_CLIENT_SECRET_LEN: usize = 2048;
/// A secret shorter than this shows no last four characters (the vault's rule for API keys).
const MIN_LEN_FOR_LAST4: usize = 12;

/// An account's own app, as listed: never the secret.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OauthApp {
    pub provider: String,
    pub client_id: String,
    /// The secret's last four characters when it has at least 12, else empty.
    pub client_secret_last4: String,
    pub updated_at_ms: i64,
}

/// The vault's JSON of an app. The secret is written first: the vault's metadata shows the last
/// characters of a text secret, which must not be the client secret's (`ClientCredentials` reads
/// either order).
#[derive(Serialize)]
struct StoredApp<'a> {
    client_secret: &'a str,
    client_id: &'a str,
}

fn secret_id(provider: &str) -> String {
    format!("{SECRET_PREFIX}{provider}")
}

fn last4(secret: &str) -> String {
    let count = secret.chars().count();
    if count < MIN_LEN_FOR_LAST4 {
        return String::new();
    }
    secret.chars().skip(count - 4).collect()
}

fn check_text(field: &str, value: &str, max: usize) -> Result<(), OauthError> {
    if value.trim().is_empty() {
        return Err(OauthError::field(field, "required"));
    }
    if value.len() > max {
        return Err(OauthError::field(field, format!("at most {max} characters")));
    }
    if value.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err(OauthError::field(field, "no spaces or control characters"));
    }
    Ok(())
}

fn app_of(provider: &str, opened: &Opened) -> Result<OauthApp, OauthError> {
    let app: ClientCredentials = serde_json::from_slice(&opened.plaintext).map_err(|error| OauthError::Corrupt {
        what: secret_id(provider),
        reason: error.to_string(),
    })?;
    Ok(OauthApp {
        provider: provider.to_owned(),
        client_secret_last4: last4(&app.client_secret),
        client_id: app.client_id.clone(),
        updated_at_ms: opened.updated_at_ms,
    })
}

impl Oauth {
    /// Registers (or replaces) the account's own app for `provider`.
    pub async fn set_app(
        &self,
        account: &AccountId,
        actor: Option<&str>,
        provider: &str,
        client_id: &str,
        client_secret: &str,
    ) -> Result<OauthApp, OauthError> {
        let provider = self.oauth2_provider(provider)?.code.clone();
        check_text("clientId", client_id, MAX_CLIENT_ID_LEN)?;
        check_text("clientSecret", client_secret, MAX_CLIENT_SECRET_LEN)?;
        let stored = zeroize::Zeroizing::new(
            serde_json::to_vec(&StoredApp {
                client_secret,
                client_id,
            })
            .unwrap_or_default(),
        );
        if let Written::Conflict = self
            .vault
            .put_write_only(account, &secret_id(&provider), stored.to_vec())
            .await?
        {
            // Only a compare-and-swap write can conflict; this one is unconditional.
            return Err(OauthError::Corrupt {
                what: secret_id(&provider),
                reason: "an unconditional write conflicted".to_owned(),
            });
        }
        self.announce_app(account, actor, &provider, client_id, false).await?;
        let opened = self
            .vault
            .get(account, &secret_id(&provider), true)
            .await?
            .ok_or_else(|| OauthError::AppNotFound(provider.clone()))?;
        app_of(&provider, &opened)
    }

    /// The account's own apps, by provider.
    pub async fn list_apps(&self, account: &AccountId) -> Result<Vec<OauthApp>, OauthError> {
        let mut apps = Vec::new();
        for id in self.vault.list(account, SECRET_PREFIX).await? {
            let Some(provider) = id.strip_prefix(SECRET_PREFIX) else {
                continue;
            };
            // Removed between the listing and now: not listed.
            if let Some(opened) = self.vault.get(account, &id, true).await? {
                apps.push(app_of(provider, &opened)?);
            }
        }
        apps.sort_by(|a, b| a.provider.cmp(&b.provider));
        Ok(apps)
    }

    /// Removes the account's own app for `provider`; the deployment's is used again.
    pub async fn delete_app(&self, account: &AccountId, actor: Option<&str>, provider: &str) -> Result<(), OauthError> {
        let provider = self.oauth2_provider(provider)?.code.clone();
        if !self.vault.delete(account, &secret_id(&provider)).await? {
            return Err(OauthError::AppNotFound(provider));
        }
        self.announce_app(account, actor, &provider, "", true).await
    }

    async fn announce_app(
        &self,
        account: &AccountId,
        actor: Option<&str>,
        provider: &str,
        client_id: &str,
        removed: bool,
    ) -> Result<(), OauthError> {
        let event = OauthAppUpdated {
            provider: provider.to_owned(),
            client_id: client_id.to_owned(),
            removed,
        };
        let mut tx = self.db.begin_write().await?;
        self.outbox
            .enqueue(&mut tx, &Envelope::new(EVENT_SOURCE, account.as_str(), actor, &event))
            .await?;
        self.outbox.commit(tx).await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests;
