//! The provider catalogue: `providers.toml`, compiled in and parsed once.

use std::collections::BTreeMap;

use serde::Deserialize;

const CATALOGUE: &str = include_str!("../providers.toml");

/// How a provider's credential is obtained.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProviderKind {
    /// Authorization code with PKCE; tokens refreshed by the service.
    Oauth2,
    /// The account's stored key (`credential/<code>` in the vault).
    ApiKey,
    /// Telegram: a session string with the deployment's api id and hash.
    Mtproto,
}

impl ProviderKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Oauth2 => "oauth2",
            Self::ApiKey => "api_key",
            Self::Mtproto => "mtproto",
        }
    }
}

/// Where an oauth2 provider's endpoints come from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Discovery {
    /// The OIDC discovery document at the configured `oauth.oidc_discovery_url`.
    Config,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProviderService {
    pub code: String,
    pub name: String,
    #[serde(default)]
    pub scopes: Vec<String>,
    pub api_base_url: String,
}

/// One provider as the catalogue describes it.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Provider {
    pub code: String,
    pub name: String,
    pub kind: ProviderKind,
    pub authorize_url: Option<String>,
    pub token_url: Option<String>,
    pub userinfo_url: Option<String>,
    pub revoke_url: Option<String>,
    pub discovery: Option<Discovery>,
    #[serde(default)]
    pub default_scopes: Vec<String>,
    #[serde(default)]
    pub authorize_params: BTreeMap<String, String>,
    #[serde(default)]
    pub services: Vec<ProviderService>,
    pub docs_url: String,
    /// How the credential proxy presents the credential to the provider's API.
    #[serde(default)]
    pub proxy_auth: ProxyAuth,
}

/// How the credential proxy (`/proxy/{provider}/{service}/…`) presents the account's credential.
/// Written in the catalogue as `"bearer"` (the default), `"basic"` (the stored key is `user:password`)
/// or `"header:<name>"` (the key as that header's value, e.g. `"header:x-api-key"`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub enum ProxyAuth {
    /// `Authorization: Bearer <credential>`.
    #[default]
    Bearer,
    /// `Authorization: Basic base64(<credential>)`.
    Basic,
    /// `<name>: <credential>`; the name is lowercase.
    Header(http::HeaderName),
}

impl TryFrom<String> for ProxyAuth {
    type Error = String;

    fn try_from(text: String) -> Result<Self, Self::Error> {
        match text.as_str() {
            "bearer" => Ok(Self::Bearer),
            "basic" => Ok(Self::Basic),
            other => {
                let name = other
                    .strip_prefix("header:")
                    .ok_or_else(|| format!("proxy_auth {other:?}: bearer, basic or header:<name>"))?;
                let name = http::HeaderName::try_from(name.to_ascii_lowercase())
                    .map_err(|_| format!("proxy_auth {other:?}: not a header name"))?;
                // The proxy strips these from what the caller sends; a credential never rides in them.
                if matches!(
                    name.as_str(),
                    "host" | "content-length" | "transfer-encoding" | "connection"
                ) {
                    return Err(format!("proxy_auth {other:?}: the header carries the request itself"));
                }
                Ok(Self::Header(name))
            }
        }
    }
}

impl Provider {
    /// The provider as `ListProviders` answers it; `configured`: whether its sessions can start.
    pub fn to_message(&self, configured: bool) -> latchkey_proto::oauth::v1::Provider {
        latchkey_proto::oauth::v1::Provider {
            code: self.code.clone(),
            name: self.name.clone(),
            kind: self.kind.as_str().to_owned(),
            default_scopes: self.default_scopes.clone(),
            services: self
                .services
                .iter()
                .map(|service| latchkey_proto::oauth::v1::ProviderService {
                    code: service.code.clone(),
                    name: service.name.clone(),
                    scopes: service.scopes.clone(),
                    api_base_url: service.api_base_url.clone(),
                })
                .collect(),
            docs_url: self.docs_url.clone(),
            configured,
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    provider: Vec<Provider>,
}

/// Every provider, by code.
#[derive(Clone, Debug)]
pub struct Catalogue {
    providers: BTreeMap<String, Provider>,
}

impl Catalogue {
    /// The compiled-in catalogue. Its validity is a unit test, so this cannot fail at run time.
    pub fn builtin() -> Self {
        Self::parse(CATALOGUE).expect("providers.toml is valid (tested)")
    }

    /// The built-in catalogue, with the providers of the TOML file at `path` (the shape of
    /// `providers.toml`) added, each replacing a built-in one of the same code. Empty: none.
    pub fn for_deployment(path: &str) -> Result<Self, String> {
        let mut catalogue = Self::builtin();
        if path.is_empty() {
            return Ok(catalogue);
        }
        let text = std::fs::read_to_string(path).map_err(|error| format!("{path}: {error}"))?;
        let added = Self::parse(&text).map_err(|error| format!("{path}: {error}"))?;
        catalogue.providers.extend(added.providers);
        Ok(catalogue)
    }

    pub fn parse(text: &str) -> Result<Self, String> {
        let file: File = toml::from_str(text).map_err(|error| error.to_string())?;
        let mut providers = BTreeMap::new();
        for provider in file.provider {
            // Codes appear in paths, field names (`{code}ApiKey`) and vault ids.
            let code_ok = (1..=64).contains(&provider.code.len())
                && provider
                    .code
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
            if !code_ok {
                return Err(format!(
                    "{:?}: a code is 1 to 64 of a-z, 0-9, `-` and `_`",
                    provider.code
                ));
            }
            if provider.kind == ProviderKind::Oauth2 {
                let explicit = provider.authorize_url.is_some() && provider.token_url.is_some();
                if !explicit && provider.discovery.is_none() {
                    return Err(format!(
                        "{}: oauth2 needs authorize_url and token_url, or discovery",
                        provider.code
                    ));
                }
            }
            let code = provider.code.clone();
            if providers.insert(code.clone(), provider).is_some() {
                return Err(format!("{code}: listed twice"));
            }
        }
        Ok(Self { providers })
    }

    pub fn get(&self, code: &str) -> Option<&Provider> {
        self.providers.get(code)
    }

    pub fn all(&self) -> impl Iterator<Item = &Provider> {
        self.providers.values()
    }
}

#[cfg(test)]
mod tests;
