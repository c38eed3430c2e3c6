//! The token set of one connection, as the vault stores it (JSON under `connection/<id>`). Its
//! `Debug` never shows a token; its memory is wiped when dropped.

use latchkey_ids::ConnectionId;
use serde::{Deserialize, Serialize};
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use crate::OauthError;

#[derive(Clone, Serialize, Deserialize, Zeroize, ZeroizeOnDrop)]
pub(crate) struct TokenSet {
    pub(crate) access_token: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) refresh_token: Option<String>,
    /// Unix ms; 0 when the provider gave no lifetime.
    #[serde(default)]
    pub(crate) expires_at_ms: i64,
    #[serde(default)]
    pub(crate) scopes: Vec<String>,
}

impl std::fmt::Debug for TokenSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenSet")
            .field("access_token", &"<redacted>")
            .field("refresh_token", &self.refresh_token.as_ref().map(|_| "<redacted>"))
            .field("expires_at_ms", &self.expires_at_ms)
            .field("scopes", &self.scopes)
            .finish()
    }
}

impl TokenSet {
    pub(crate) fn to_json(&self) -> Zeroizing<Vec<u8>> {
        Zeroizing::new(serde_json::to_vec(self).unwrap_or_default())
    }

    pub(crate) fn from_json(bytes: &[u8], connection_id: &ConnectionId) -> Result<Self, OauthError> {
        // serde_json's error names a position, never the content.
        serde_json::from_slice(bytes).map_err(|error| OauthError::Corrupt {
            what: format!("token set of {connection_id}"),
            reason: error.to_string(),
        })
    }

    /// Whether the token must be refreshed before use: it expires within `margin_ms` of `now_ms`.
    pub(crate) fn needs_refresh(&self, now_ms: i64, margin_ms: i64) -> bool {
        self.expires_at_ms != 0 && self.expires_at_ms - margin_ms <= now_ms
    }

    /// Whether the token is past its expiry (it cannot be handed out even if refresh fails).
    pub(crate) fn is_expired(&self, now_ms: i64) -> bool {
        self.expires_at_ms != 0 && self.expires_at_ms <= now_ms
    }
}

/// The vault secret id of a connection's token set.
pub(crate) fn secret_id(connection_id: &ConnectionId) -> String {
    format!("connection/{connection_id}")
}

#[cfg(test)]
mod tests;
