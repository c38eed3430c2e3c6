//! MTProto sessions (Telegram): an account stores its logged-in session string with the api id and
//! api hash of the Telegram app it was made with (`PUT /v1/connections/telegram`), and
//! `/tokens/fetch` answers them for gramjs or Telethon. The three are one vault secret,
//! `credential/<provider>` (a JSON object; the vault announces `credential.updated`), never a row of
//! this service. Answers show the api id and the api hash's last four characters, never the session
//! string or the hash. A secret written before this (the session string alone) is still served, with
//! the deployment's api id and hash (`oauth.clients.telegram`).

use latchkey_ids::AccountId;
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::{Oauth, OauthError, ProviderKind, vault::Written};

/// The longest session string accepted, in bytes (Telethon's and gramjs's are about 350).
pub const MAX_SESSION_STRING_LEN: usize = 4096;
/// Telegram's api id is a positive 32-bit integer.
const MAX_API_ID: u64 = i32::MAX as u64;

/// What the vault holds. The secrets come first: the vault's metadata shows the last characters of
/// a text secret, which must be the api id's, not theirs.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct StoredSession {
    session_string: String,
    api_hash: String,
    api_id: String,
}

impl Drop for StoredSession {
    fn drop(&mut self) {
        use zeroize::Zeroize;
        self.session_string.zeroize();
        self.api_hash.zeroize();
    }
}

/// An MTProto session as answered: what is stored, masked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MtprotoSummary {
    pub provider: String,
    pub api_id: String,
    /// The api hash's last four characters.
    pub api_hash_last4: String,
    pub updated_at_ms: i64,
}

/// A session's three parts, opened (for `/tokens/fetch`). `Debug` hides the secrets.
pub(crate) struct OpenedSession {
    pub(crate) session_string: String,
    pub(crate) api_id: String,
    pub(crate) api_hash: String,
}

fn secret_id(provider: &str) -> String {
    format!("credential/{provider}")
}

/// The api id, as decimal digits without leading zeros: 1 to 2147483647.
pub fn check_api_id(api_id: &str) -> Result<String, OauthError> {
    let field = |message: &str| OauthError::field("apiId", message);
    if api_id.trim().is_empty() {
        return Err(field("required"));
    }
    if api_id.len() > 10 || !api_id.bytes().all(|b| b.is_ascii_digit()) {
        return Err(field("a number: Telegram's api_id, digits only"));
    }
    match api_id.parse::<u64>() {
        Ok(id) if (1..=MAX_API_ID).contains(&id) => Ok(id.to_string()),
        _ => Err(field("a number from 1 to 2147483647")),
    }
}

/// The api hash: 32 hexadecimal characters, kept in lower case.
pub fn check_api_hash(api_hash: &str) -> Result<String, OauthError> {
    if api_hash.is_empty() {
        return Err(OauthError::field("apiHash", "required"));
    }
    if api_hash.len() != 32 || !api_hash.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(OauthError::field(
            "apiHash",
            "32 hexadecimal characters (Telegram's api_hash)",
        ));
    }
    Ok(api_hash.to_ascii_lowercase())
}

/// The session string: printable ASCII without spaces (the base64 of Telethon, gramjs, Pyrogram),
/// at most [`MAX_SESSION_STRING_LEN`] bytes.
pub fn check_session_string(session: &str) -> Result<(), OauthError> {
    let field = |message: String| OauthError::field("sessionString", message);
    if session.is_empty() {
        return Err(field("required".to_owned()));
    }
    if session.len() > MAX_SESSION_STRING_LEN {
        return Err(field(format!("at most {MAX_SESSION_STRING_LEN} characters")));
    }
    if !session.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(field(
            "printable ASCII without spaces (a session string as Telethon or gramjs saves it)".to_owned(),
        ));
    }
    Ok(())
}

fn last4(text: &str) -> String {
    text.get(text.len().saturating_sub(4)..).unwrap_or_default().to_owned()
}

impl Oauth {
    /// The catalogue entry of `code`, when enabled and an MTProto provider.
    fn mtproto_provider(&self, code: &str) -> Result<String, OauthError> {
        let provider = self.provider(code)?;
        if provider.kind != ProviderKind::Mtproto {
            return Err(OauthError::field(
                "provider",
                format!("{} does not use MTProto sessions", provider.code),
            ));
        }
        Ok(provider.code.clone())
    }

    /// Stores (or replaces) the account's session for `provider`.
    pub async fn set_mtproto_session(
        &self,
        account: &AccountId,
        actor: Option<&str>,
        provider: &str,
        session_string: &str,
        api_id: &str,
        api_hash: &str,
    ) -> Result<MtprotoSummary, OauthError> {
        let provider = self.mtproto_provider(provider)?;
        check_session_string(session_string)?;
        let api_id = check_api_id(api_id)?;
        let api_hash = check_api_hash(api_hash)?;
        let stored = StoredSession {
            session_string: session_string.to_owned(),
            api_hash,
            api_id,
        };
        let plaintext = Zeroizing::new(serde_json::to_vec(&stored).unwrap_or_default());
        let Written::Stored(_) = self
            .vault
            .put_as(account, actor, &secret_id(&provider), plaintext.to_vec())
            .await?
        else {
            // Only a compare-and-swap write can conflict; this one is unconditional.
            return Err(OauthError::Corrupt {
                what: secret_id(&provider),
                reason: "an unconditional write conflicted".to_owned(),
            });
        };
        self.mtproto_session(account, &provider).await
    }

    /// The account's session for `provider`, masked; `INTEGRATION_NOT_FOUND` without one.
    pub async fn mtproto_session(&self, account: &AccountId, provider: &str) -> Result<MtprotoSummary, OauthError> {
        let provider = self.mtproto_provider(provider)?;
        let (opened, updated_at_ms) = self.open_mtproto_session(account, &provider).await?;
        Ok(MtprotoSummary {
            api_hash_last4: last4(&opened.api_hash),
            api_id: opened.api_id.clone(),
            provider,
            updated_at_ms,
        })
    }

    /// Forgets the account's session for `provider`; `INTEGRATION_NOT_FOUND` without one.
    pub async fn delete_mtproto_session(
        &self,
        account: &AccountId,
        actor: Option<&str>,
        provider: &str,
    ) -> Result<(), OauthError> {
        let provider = self.mtproto_provider(provider)?;
        if self.vault.delete_as(account, actor, &secret_id(&provider)).await? {
            Ok(())
        } else {
            Err(OauthError::IntegrationNotFound(provider))
        }
    }

    /// The session, its api id and hash (a session string stored alone takes the deployment's app)
    /// and when it was written.
    pub(crate) async fn open_mtproto_session(
        &self,
        account: &AccountId,
        provider: &str,
    ) -> Result<(OpenedSession, i64), OauthError> {
        let secret = self
            .vault
            .get(account, &secret_id(provider), false)
            .await?
            .ok_or_else(|| OauthError::IntegrationNotFound(provider.to_owned()))?;
        if let Ok(stored) = serde_json::from_slice::<StoredSession>(&secret.plaintext) {
            let opened = OpenedSession {
                session_string: stored.session_string.clone(),
                api_id: stored.api_id.clone(),
                api_hash: stored.api_hash.clone(),
            };
            return Ok((opened, secret.updated_at_ms));
        }
        let app = self.providers.app(&self.vault, account, provider).await?;
        let opened = OpenedSession {
            session_string: String::from_utf8_lossy(&secret.plaintext).into_owned(),
            api_id: app.client_id.clone(),
            api_hash: app.client_secret.clone(),
        };
        Ok((opened, secret.updated_at_ms))
    }
}

impl std::fmt::Debug for OpenedSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpenedSession")
            .field("session_string", &"<redacted>")
            .field("api_id", &self.api_id)
            .field("api_hash", &"<redacted>")
            .finish()
    }
}

impl Drop for OpenedSession {
    fn drop(&mut self) {
        use zeroize::Zeroize;
        self.session_string.zeroize();
        self.api_hash.zeroize();
    }
}

#[cfg(test)]
mod tests;
