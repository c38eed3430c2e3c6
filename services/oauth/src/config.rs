//! The oauth service's settings (`[oauth]` in src/defaults.toml documents each).

use std::collections::BTreeMap;

use serde::Deserialize;

/// Deployment-wide OAuth settings.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OauthConfig {
    /// The public URL of the gateway's callback route (`…/oauth/callback`): the redirect URI every
    /// provider is given. It must be registered with each provider's OAuth app.
    pub callback_url: String,
    /// How long an authorization session stays usable.
    pub session_ttl_secs: u64,
    /// A token expiring within this many seconds is refreshed before it is handed out.
    pub refresh_margin_secs: u64,
    /// How long a refresh lease holds; a crashed holder's lease is taken over after it.
    pub refresh_lease_secs: u64,
    /// The discovery document of the generic `oidc` provider (`…/.well-known/openid-configuration`);
    /// empty disables it.
    pub oidc_discovery_url: String,
    /// How long a connect link can be opened (once).
    pub connect_link_ttl_secs: u64,
    /// OIDC discovery documents replacing catalogue providers' endpoints, by provider code (a
    /// Microsoft tenant's issuer, a provider's sandbox).
    pub discovery_urls: BTreeMap<String, String>,
    /// Deployment-wide OAuth apps by provider code; an account's own app (in the vault) wins.
    pub clients: BTreeMap<String, ClientCredentials>,
    /// A TOML file of providers (the shape of `providers.toml`) added to the built-in catalogue,
    /// each replacing a built-in one of the same code; empty: none.
    pub catalogue_file: String,
}

impl OauthConfig {
    /// The deployment's catalogue: the built-in one with `catalogue_file`'s providers.
    pub fn catalogue(&self) -> Result<crate::Catalogue, String> {
        crate::Catalogue::for_deployment(&self.catalogue_file)
    }
}

impl Default for OauthConfig {
    fn default() -> Self {
        Self {
            callback_url: "http://127.0.0.1:8080/oauth/callback".to_owned(),
            session_ttl_secs: 600,
            refresh_margin_secs: 60,
            refresh_lease_secs: 60,
            oidc_discovery_url: String::new(),
            connect_link_ttl_secs: 600,
            discovery_urls: BTreeMap::new(),
            clients: BTreeMap::new(),
            catalogue_file: String::new(),
        }
    }
}

/// An OAuth app: client id and secret (for Telegram: api id and api hash). `Debug` hides the secret.
#[derive(Clone, Default, Deserialize, serde::Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct ClientCredentials {
    pub client_id: String,
    #[serde(default)]
    pub client_secret: String,
}

impl std::fmt::Debug for ClientCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientCredentials")
            .field("client_id", &self.client_id)
            .field("client_secret", &"<redacted>")
            .finish()
    }
}
