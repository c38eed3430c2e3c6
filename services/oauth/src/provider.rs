//! Talking to a provider: its endpoints (from the catalogue or OIDC discovery), the OAuth app to
//! use (the account's own, from the vault, or the deployment's), and the four calls: authorization
//! URL, code exchange, refresh, revocation; plus the userinfo email. Redirects are never followed.

use std::{collections::HashMap, sync::Arc, time::Duration};

use latchkey_ids::AccountId;
use oauth2::{
    AuthUrl, AuthorizationCode, ClientId, ClientSecret, CsrfToken, EndpointMaybeSet, EndpointNotSet, EndpointSet,
    PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, RefreshToken, RequestTokenError, RevocationUrl, Scope,
    TokenResponse, TokenUrl,
    basic::{BasicClient, BasicErrorResponseType},
};
use serde::Deserialize;
use tokio::sync::Mutex;

use crate::{
    OauthError,
    catalogue::{Discovery, Provider},
    config::{ClientCredentials, OauthConfig},
    token_set::TokenSet,
    vault::Vault,
};

type Client = BasicClient<EndpointSet, EndpointNotSet, EndpointNotSet, EndpointMaybeSet, EndpointSet>;

/// A provider's endpoints.
#[derive(Clone, Debug, Deserialize)]
pub(crate) struct Endpoints {
    #[serde(rename = "authorization_endpoint")]
    pub(crate) authorize_url: String,
    #[serde(rename = "token_endpoint")]
    pub(crate) token_url: String,
    #[serde(rename = "userinfo_endpoint", default)]
    pub(crate) userinfo_url: Option<String>,
    #[serde(rename = "revocation_endpoint", default)]
    pub(crate) revoke_url: Option<String>,
}

/// Why a token request failed, as far as the connection is concerned.
#[derive(Debug)]
pub(crate) enum TokenFailure {
    /// The provider refused the grant (`invalid_grant`, `access_denied`, …): the user must act.
    Refused { error: String },
    /// The provider could not be reached or answered nonsense: worth retrying.
    Unreachable { reason: String },
}

/// The HTTP side of the service: one reqwest client, and discovery documents once fetched.
#[derive(Clone, Debug)]
pub(crate) struct Providers {
    http: reqwest::Client,
    config: Arc<OauthConfig>,
    discovered: Arc<Mutex<HashMap<String, Endpoints>>>,
}

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub(crate) struct HttpError(String);

/// The oauth2 crate's HTTP client: reqwest without redirects. A provider that answers a token error
/// with HTTP 200 (GitHub) is turned into the 400 the standard asks for, so it parses as an error.
async fn send(http: reqwest::Client, request: oauth2::HttpRequest) -> Result<oauth2::HttpResponse, HttpError> {
    let request = reqwest::Request::try_from(request).map_err(|error| HttpError(error.without_url().to_string()))?;
    let response = http
        .execute(request)
        .await
        .map_err(|error| HttpError(error.without_url().to_string()))?;
    let mut status = response.status();
    let headers = response.headers().clone();
    let body = response
        .bytes()
        .await
        .map_err(|error| HttpError(error.without_url().to_string()))?
        .to_vec();
    if status == http::StatusCode::OK
        && let Ok(value) = serde_json::from_slice::<serde_json::Value>(&body)
        && value.get("error").is_some()
        && value.get("access_token").is_none()
    {
        status = http::StatusCode::BAD_REQUEST;
    }
    let mut built = http::Response::builder().status(status);
    if let Some(map) = built.headers_mut() {
        *map = headers;
    }
    built.body(body).map_err(|error| HttpError(error.to_string()))
}

fn token_failure<RE: std::error::Error + 'static>(
    error: RequestTokenError<RE, oauth2::basic::BasicErrorResponse>,
) -> TokenFailure {
    match error {
        RequestTokenError::ServerResponse(response) => match response.error() {
            BasicErrorResponseType::InvalidGrant
            | BasicErrorResponseType::InvalidClient
            | BasicErrorResponseType::UnauthorizedClient
            | BasicErrorResponseType::InvalidScope => TokenFailure::Refused {
                error: response.error().as_ref().to_owned(),
            },
            other => TokenFailure::Unreachable {
                reason: format!("token endpoint answered {}", other.as_ref()),
            },
        },
        RequestTokenError::Request(error) => TokenFailure::Unreachable {
            reason: error.to_string(),
        },
        // The body may hold a token: name the parse error only.
        RequestTokenError::Parse(error, _body) => TokenFailure::Unreachable {
            reason: format!("unreadable token response at {}", error.path()),
        },
        RequestTokenError::Other(reason) => TokenFailure::Unreachable { reason },
    }
}

fn token_set_of(response: &oauth2::basic::BasicTokenResponse, requested: &[String], now_ms: i64) -> TokenSet {
    let scopes = match response.scopes() {
        Some(granted) => granted.iter().map(|scope| scope.to_string()).collect(),
        // RFC 6749 §5.1: no scope in the answer means the requested ones were granted.
        None => requested.to_vec(),
    };
    TokenSet {
        access_token: response.access_token().secret().clone(),
        refresh_token: response.refresh_token().map(|token| token.secret().clone()),
        expires_at_ms: response
            .expires_in()
            .map(|lifetime| now_ms + i64::try_from(lifetime.as_millis()).unwrap_or(i64::MAX / 2))
            .unwrap_or_default(),
        scopes,
    }
}

/// An authorization code with what must accompany it: the session's PKCE verifier and the redirect
/// URI the provider was given when the code was issued.
pub(crate) struct CodeGrant<'a> {
    pub(crate) code: &'a str,
    pub(crate) pkce_verifier: &'a str,
    pub(crate) redirect_uri: &'a str,
}

/// What an authorization URL needs, and what the session keeps.
pub(crate) struct Authorization {
    pub(crate) url: String,
    pub(crate) state: String,
    pub(crate) pkce_verifier: String,
}

impl Providers {
    pub(crate) fn new(config: Arc<OauthConfig>) -> Self {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(20))
            .build()
            .unwrap_or_default();
        Self {
            http,
            config,
            discovered: Arc::default(),
        }
    }

    /// Whether the deployment enables `provider` (a generic OIDC provider needs its discovery URL).
    pub(crate) fn is_enabled(&self, provider: &Provider) -> bool {
        provider.discovery != Some(Discovery::Config) || !self.config.oidc_discovery_url.is_empty()
    }

    /// The deployment-wide app of `provider`, if configured.
    pub(crate) fn deployment_app(&self, provider: &str) -> Option<&ClientCredentials> {
        self.config
            .clients
            .get(provider)
            .filter(|app| !app.client_id.is_empty())
    }

    /// The gateway's callback: the redirect URI providers are given in the callback flow.
    pub(crate) fn callback_url(&self) -> &str {
        &self.config.callback_url
    }

    /// The app to use for `account`: its own (vault `oauth-app/<code>`, see apps.rs), else the
    /// deployment's.
    pub(crate) async fn app(
        &self,
        vault: &Vault,
        account: &AccountId,
        provider: &str,
    ) -> Result<ClientCredentials, OauthError> {
        if let Some(opened) = vault.get(account, &format!("oauth-app/{provider}"), true).await? {
            return serde_json::from_slice(&opened.plaintext).map_err(|error| OauthError::Corrupt {
                what: format!("oauth-app/{provider}"),
                reason: error.to_string(),
            });
        }
        self.deployment_app(provider).cloned().ok_or_else(|| {
            OauthError::field(
                "provider",
                format!(
                    "{provider} has no OAuth app: configure oauth.clients.{provider} or register the account's own"
                ),
            )
        })
    }

    /// `provider`'s endpoints: a discovery document of the deployment's (`oauth.discovery_urls`,
    /// or `oauth.oidc_discovery_url` for the generic provider), else the catalogue's.
    pub(crate) async fn endpoints(&self, provider: &Provider) -> Result<Endpoints, OauthError> {
        let discovery_url = match (self.config.discovery_urls.get(&provider.code), provider.discovery) {
            (Some(url), _) if !url.is_empty() => url,
            (_, Some(Discovery::Config)) => &self.config.oidc_discovery_url,
            _ => {
                return Ok(Endpoints {
                    authorize_url: provider.authorize_url.clone().unwrap_or_default(),
                    token_url: provider.token_url.clone().unwrap_or_default(),
                    userinfo_url: provider.userinfo_url.clone(),
                    revoke_url: provider.revoke_url.clone(),
                });
            }
        };
        let mut cache = self.discovered.lock().await;
        if let Some(found) = cache.get(discovery_url) {
            return Ok(found.clone());
        }
        let upstream = |reason: String| OauthError::Upstream {
            provider: provider.code.clone(),
            reason,
        };
        let document: Endpoints = self
            .http
            .get(discovery_url)
            .send()
            .await
            .and_then(reqwest::Response::error_for_status)
            .map_err(|error| upstream(format!("discovery: {error}")))?
            .json()
            .await
            .map_err(|error| upstream(format!("discovery document: {error}")))?;
        cache.insert(discovery_url.clone(), document.clone());
        Ok(document)
    }

    /// A client for `app` at `endpoints`. `redirect_uri` is the one the provider is given (and must
    /// see again at the code exchange): the gateway's callback, or an AGNT-flow client's own.
    fn client(&self, endpoints: &Endpoints, app: &ClientCredentials, redirect_uri: &str) -> Result<Client, OauthError> {
        let bad = |what: &str, error: oauth2::url::ParseError| OauthError::Corrupt {
            what: what.to_owned(),
            reason: error.to_string(),
        };
        let mut client = BasicClient::new(ClientId::new(app.client_id.clone()))
            .set_auth_uri(AuthUrl::new(endpoints.authorize_url.clone()).map_err(|e| bad("authorize url", e))?)
            .set_token_uri(TokenUrl::new(endpoints.token_url.clone()).map_err(|e| bad("token url", e))?)
            .set_revocation_url_option(
                endpoints
                    .revoke_url
                    .clone()
                    .map(RevocationUrl::new)
                    .transpose()
                    .map_err(|e| bad("revocation url", e))?,
            )
            .set_redirect_uri(RedirectUrl::new(redirect_uri.to_owned()).map_err(|e| bad("redirect uri", e))?);
        if !app.client_secret.is_empty() {
            client = client.set_client_secret(ClientSecret::new(app.client_secret.clone()));
        }
        Ok(client)
    }

    /// The URL the end user visits: a fresh random state and a PKCE S256 challenge.
    pub(crate) fn authorization(
        &self,
        provider: &Provider,
        endpoints: &Endpoints,
        app: &ClientCredentials,
        scopes: &[String],
        redirect_uri: &str,
    ) -> Result<Authorization, OauthError> {
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let client = self.client(endpoints, app, redirect_uri)?;
        let mut request = client
            .authorize_url(CsrfToken::new_random)
            .add_scopes(scopes.iter().cloned().map(Scope::new))
            .set_pkce_challenge(challenge);
        for (name, value) in &provider.authorize_params {
            request = request.add_extra_param(name.clone(), value.clone());
        }
        let (url, state) = request.url();
        Ok(Authorization {
            url: url.to_string(),
            state: state.secret().clone(),
            pkce_verifier: verifier.secret().clone(),
        })
    }

    pub(crate) async fn exchange_code(
        &self,
        endpoints: &Endpoints,
        app: &ClientCredentials,
        grant: CodeGrant<'_>,
        requested: &[String],
        now_ms: i64,
    ) -> Result<TokenSet, TokenFailure> {
        let client = self
            .client(endpoints, app, grant.redirect_uri)
            .map_err(|error| TokenFailure::Unreachable {
                reason: error.to_string(),
            })?;
        let http = |request| send(self.http.clone(), request);
        client
            .exchange_code(AuthorizationCode::new(grant.code.to_owned()))
            .set_pkce_verifier(PkceCodeVerifier::new(grant.pkce_verifier.to_owned()))
            .request_async(&http)
            .await
            .map(|response| token_set_of(&response, requested, now_ms))
            .map_err(token_failure)
    }

    /// Exchanges `current`'s refresh token. A provider that does not rotate keeps the old one.
    pub(crate) async fn refresh(
        &self,
        endpoints: &Endpoints,
        app: &ClientCredentials,
        current: &TokenSet,
        now_ms: i64,
    ) -> Result<TokenSet, TokenFailure> {
        let Some(refresh_token) = current.refresh_token.clone() else {
            return Err(TokenFailure::Refused {
                error: "no_refresh_token".to_owned(),
            });
        };
        // A refresh sends no redirect URI; the client is built with the callback's for completeness.
        let client = self
            .client(endpoints, app, &self.config.callback_url)
            .map_err(|error| TokenFailure::Unreachable {
                reason: error.to_string(),
            })?;
        let http = |request| send(self.http.clone(), request);
        let refresh_token = RefreshToken::new(refresh_token);
        let response = client
            .exchange_refresh_token(&refresh_token)
            .request_async(&http)
            .await
            .map_err(token_failure)?;
        let mut refreshed = token_set_of(&response, &current.scopes, now_ms);
        if refreshed.refresh_token.is_none() {
            refreshed.refresh_token = Some(refresh_token.secret().clone());
        }
        Ok(refreshed)
    }

    /// Revokes the grant at the provider (RFC 7009: its refresh token, which revokes the grant, else
    /// its access token). Answers whether the provider confirmed; a provider without a revocation
    /// endpoint answers false. Done by hand: the oauth2 crate refuses any http URL, and a loopback
    /// provider (a test's, a sidecar's) is legitimate; any other host must be https.
    pub(crate) async fn revoke(&self, endpoints: &Endpoints, app: &ClientCredentials, tokens: &TokenSet) -> bool {
        let Some(url) = endpoints.revoke_url.as_deref() else {
            return false;
        };
        let Ok(parsed) = oauth2::url::Url::parse(url) else {
            return false;
        };
        let loopback = matches!(parsed.host_str(), Some("127.0.0.1" | "localhost" | "[::1]"));
        if parsed.scheme() != "https" && !loopback {
            tracing::warn!(
                host = parsed.host_str().unwrap_or_default(),
                "revocation endpoint is not https; skipped"
            );
            return false;
        }
        let (token, hint) = match &tokens.refresh_token {
            Some(refresh) => (refresh.as_str(), "refresh_token"),
            None => (tokens.access_token.as_str(), "access_token"),
        };
        let mut form = vec![("token", token), ("token_type_hint", hint)];
        let mut request = self.http.post(parsed);
        if app.client_secret.is_empty() {
            form.push(("client_id", app.client_id.as_str()));
        } else {
            request = request.basic_auth(&app.client_id, Some(&app.client_secret));
        }
        match request.form(&form).send().await {
            Ok(response) if response.status().is_success() => true,
            Ok(response) => {
                tracing::warn!(status = %response.status(), "the provider refused the revocation");
                false
            }
            Err(error) => {
                tracing::warn!(error = %error.without_url(), "revocation at the provider failed");
                false
            }
        }
    }

    /// The email of the provider account behind `access_token` (userinfo `email`, or GitHub's
    /// `email`); empty when the provider does not say.
    pub(crate) async fn email(&self, endpoints: &Endpoints, access_token: &str) -> String {
        let Some(url) = &endpoints.userinfo_url else {
            return String::new();
        };
        let response = self
            .http
            .get(url)
            .bearer_auth(access_token)
            .header(http::header::USER_AGENT, "latchkey")
            .header(http::header::ACCEPT, "application/json")
            .send()
            .await;
        match response {
            Ok(response) if response.status().is_success() => response
                .json::<serde_json::Value>()
                .await
                .ok()
                .and_then(|claims| claims.get("email").and_then(|e| e.as_str()).map(str::to_owned))
                .unwrap_or_default(),
            Ok(response) => {
                tracing::warn!(status = %response.status(), "userinfo refused");
                String::new()
            }
            Err(error) => {
                tracing::warn!(error = %error.without_url(), "userinfo failed");
                String::new()
            }
        }
    }
}
