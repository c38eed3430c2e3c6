//! `/ai/context/*`: the account's connections as an agent needs them.

use axum::{
    Json,
    extract::{Path, State},
};
use chrono::Utc;
use latchkey_errors::{ApiError, ErrorCode};
use latchkey_proto::{oauth::v1 as oa, vault::v1 as va};
use serde::Serialize;
use utoipa::ToSchema;

use super::reader::ContextReader;
use crate::{openapi::responses as r, principal::Principal, problem::Problem, state::AppState};

/// Where the account's provider API keys are kept in the vault (`PUT /credentials`).
const CREDENTIALS: &str = "credential/";

/// How a provider stands for the account.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ProviderStatus {
    /// `POST /tokens/fetch` answers a token (refreshing it first when it is close to expiry).
    Ok,
    /// The access token has expired; the next fetch refreshes it.
    Expired,
    /// The provider refused the refresh: a person must connect again (`connect.curl`).
    ActionRequired,
    /// Nothing stored: a person must connect first (`connect.curl`).
    NotConnected,
}

/// One connected provider, in as few bytes as it takes.
#[derive(Debug, Serialize, ToSchema)]
pub struct SummaryProvider {
    #[schema(example = "google")]
    pub provider: String,
    pub status: ProviderStatus,
    /// The catalogue's services of the provider, by code.
    #[schema(example = json!(["gmail", "drive"]))]
    pub services: Vec<String>,
}

/// Which providers the account has connected and how they stand. Details per provider:
/// `GET /ai/context/{provider}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct ContextSummaryBody {
    /// By provider code.
    pub connected: Vec<SummaryProvider>,
}

/// A command an agent can run as given, once `LATCHKEY_API_KEY` holds its key.
#[derive(Debug, Serialize, ToSchema)]
pub struct CommandBody {
    pub curl: String,
}

/// Scopes the account's connection holds, and those the catalogue knows for the provider.
#[derive(Debug, Serialize, ToSchema)]
pub struct ScopesBody {
    pub granted: Vec<String>,
    pub available: Vec<String>,
}

/// One service of a provider.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ServiceContextBody {
    #[schema(example = "gmail")]
    pub code: String,
    pub name: String,
    /// Where the provider's API for it is; call it with the fetched token.
    pub api_base_url: String,
    pub scopes: Vec<String>,
    /// Whether the connection holds every scope of the service (always, for an API key).
    pub granted: bool,
}

/// One provider: how it stands, what it reaches, and the commands to get a token or connect.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ProviderContextBody {
    #[schema(example = "google")]
    pub provider: String,
    pub name: String,
    /// `oauth2`, `api_key` or `mtproto`.
    pub kind: String,
    pub status: ProviderStatus,
    /// For OAuth: whether this deployment can start its authorization (an OAuth app is configured).
    pub configured: bool,
    pub scopes: ScopesBody,
    pub services: Vec<ServiceContextBody>,
    /// Fetches the credential (`POST /tokens/fetch`).
    pub get_token: CommandBody,
    /// Connects the provider: an OAuth session whose `url` a person must open (an agent can never
    /// authorize for them), or the API key to store.
    pub connect: CommandBody,
    pub docs_url: String,
}

/// The account's own connections (no end user) and stored API keys, with the catalogue.
struct Standing {
    providers: Vec<oa::Provider>,
    connections: Vec<oa::Connection>,
    stored_keys: Vec<String>,
}

impl Standing {
    async fn read(state: &AppState, principal: &Principal) -> Result<Self, Problem> {
        let (providers, connections, secrets) = tokio::try_join!(
            async {
                let request = principal.grpc_request(oa::ListProvidersRequest {});
                Ok::<_, Problem>(
                    state
                        .oauth
                        .clone()
                        .list_providers(request)
                        .await?
                        .into_inner()
                        .providers,
                )
            },
            async {
                let request = principal.grpc_request(oa::ListConnectionsRequest {
                    provider: String::new(),
                    end_user_id: String::new(),
                });
                Ok(state
                    .oauth
                    .clone()
                    .list_connections(request)
                    .await?
                    .into_inner()
                    .connections)
            },
            async {
                let request = principal.grpc_request(va::ListSecretsRequest {
                    prefix: CREDENTIALS.to_owned(),
                });
                Ok(state.vault.clone().list_secrets(request).await?.into_inner().secrets)
            },
        )?;
        Ok(Self {
            providers,
            // The account's own: an end user's connection is that user's, not the agent's.
            connections: connections.into_iter().filter(|c| c.end_user_id.is_empty()).collect(),
            stored_keys: secrets
                .into_iter()
                .filter_map(|secret| secret.secret_id.strip_prefix(CREDENTIALS).map(str::to_owned))
                .collect(),
        })
    }

    fn connection(&self, provider: &str) -> Option<&oa::Connection> {
        self.connections
            .iter()
            .find(|connection| connection.provider == provider)
    }

    /// How `provider` stands: its OAuth connection's state, else a stored API key, else nothing.
    fn status(&self, provider: &oa::Provider) -> ProviderStatus {
        if let Some(connection) = self.connection(&provider.code) {
            return if connection.status != "active" {
                ProviderStatus::ActionRequired
            } else if connection.expires_at_ms > 0 && connection.expires_at_ms <= Utc::now().timestamp_millis() {
                ProviderStatus::Expired
            } else {
                ProviderStatus::Ok
            };
        }
        if self.stored_keys.contains(&provider.code) {
            ProviderStatus::Ok
        } else {
            ProviderStatus::NotConnected
        }
    }

    fn provider(&self, code: &str) -> Result<&oa::Provider, Problem> {
        self.providers
            .iter()
            .find(|provider| provider.code == code)
            .ok_or_else(|| {
                let codes: Vec<&str> = self.providers.iter().map(|provider| provider.code.as_str()).collect();
                Problem(ApiError::new(
                    ErrorCode::NotFound,
                    format!("no provider `{code}` here; the providers are: {}", codes.join(", ")),
                ))
            })
    }
}

/// Connection summary for agents
///
/// The providers the account has connected (its own connections and stored API keys), each with
/// its status and services: a few hundred bytes. Start here; ask `GET /ai/context/{provider}` for
/// one provider's details. Called with an account credential or one of the account's agent tokens
/// (audience `latchkey`, or none).
#[utoipa::path(
    get,
    path = "/ai/context/summary",
    tag = "agents-context",
    responses(
        (status = 200, description = "The connected providers", body = ContextSummaryBody),
        r::Authenticated,
    )
)]
pub(crate) async fn context_summary(
    State(state): State<AppState>,
    ContextReader(principal): ContextReader,
) -> Result<Json<ContextSummaryBody>, Problem> {
    let standing = Standing::read(&state, &principal).await?;
    let mut connected: Vec<SummaryProvider> = standing
        .providers
        .iter()
        .map(|provider| (provider, standing.status(provider)))
        .filter(|(_, status)| *status != ProviderStatus::NotConnected)
        .map(|(provider, status)| SummaryProvider {
            provider: provider.code.clone(),
            status,
            services: provider.services.iter().map(|service| service.code.clone()).collect(),
        })
        .collect();
    connected.sort_by(|a, b| a.provider.cmp(&b.provider));
    Ok(Json(ContextSummaryBody { connected }))
}

/// One provider, for agents
///
/// How the provider stands for the account, the scopes granted and available, its services, and
/// ready-to-run `getToken.curl` and `connect.curl` commands for this deployment. An unknown
/// provider is 404 naming the ones there are.
#[utoipa::path(
    get,
    path = "/ai/context/{provider}",
    tag = "agents-context",
    params(("provider" = String, Path, description = "A provider code of `GET /docs/providers`")),
    responses(
        (status = 200, description = "The provider", body = ProviderContextBody),
        (status = 404, response = r::NotFound),
        r::Authenticated,
    )
)]
pub(crate) async fn provider_context(
    State(state): State<AppState>,
    ContextReader(principal): ContextReader,
    Path(provider): Path<String>,
) -> Result<Json<ProviderContextBody>, Problem> {
    let standing = Standing::read(&state, &principal).await?;
    let provider = standing.provider(&provider)?;
    Ok(Json(describe(&state.public_url, &standing, provider, None)))
}

/// One service of a provider, for agents
///
/// As `GET /ai/context/{provider}`, with that one service only (the smallest answer). An unknown
/// provider or service is 404 naming the ones there are.
#[utoipa::path(
    get,
    path = "/ai/context/{provider}/{service}",
    tag = "agents-context",
    params(
        ("provider" = String, Path, description = "A provider code of `GET /docs/providers`"),
        ("service" = String, Path, description = "One of the provider's services, e.g. `gmail`"),
    ),
    responses(
        (status = 200, description = "The provider, with that service", body = ProviderContextBody),
        (status = 404, response = r::NotFound),
        r::Authenticated,
    )
)]
pub(crate) async fn service_context(
    State(state): State<AppState>,
    ContextReader(principal): ContextReader,
    Path((provider, service)): Path<(String, String)>,
) -> Result<Json<ProviderContextBody>, Problem> {
    let standing = Standing::read(&state, &principal).await?;
    let provider = standing.provider(&provider)?;
    let Some(found) = provider.services.iter().find(|candidate| candidate.code == service) else {
        let codes: Vec<&str> = provider.services.iter().map(|service| service.code.as_str()).collect();
        let known = if codes.is_empty() {
            "it has none".to_owned()
        } else {
            format!("its services are: {}", codes.join(", "))
        };
        return Err(Problem(ApiError::new(
            ErrorCode::NotFound,
            format!("no service `{service}` of `{}`; {known}", provider.code),
        )));
    };
    Ok(Json(describe(&state.public_url, &standing, provider, Some(found))))
}

fn describe(
    base: &str,
    standing: &Standing,
    provider: &oa::Provider,
    only: Option<&oa::ProviderService>,
) -> ProviderContextBody {
    let api_key = provider.kind != "oauth2";
    let granted: Vec<String> = standing
        .connection(&provider.code)
        .map(|connection| connection.scopes.clone())
        .unwrap_or_default();
    let mut available = provider.default_scopes.clone();
    for service in &provider.services {
        for scope in &service.scopes {
            if !available.contains(scope) {
                available.push(scope.clone());
            }
        }
    }
    let status = standing.status(provider);
    let services: Vec<ServiceContextBody> = provider
        .services
        .iter()
        .filter(|service| only.is_none_or(|only| only.code == service.code))
        .map(|service| ServiceContextBody {
            code: service.code.clone(),
            name: service.name.clone(),
            api_base_url: service.api_base_url.clone(),
            scopes: service.scopes.clone(),
            granted: status != ProviderStatus::NotConnected
                && (api_key || service.scopes.iter().all(|scope| granted.contains(scope))),
        })
        .collect();
    let wanted: Vec<&str> = only.map_or_else(Vec::new, |service| service.scopes.iter().map(String::as_str).collect());
    ProviderContextBody {
        provider: provider.code.clone(),
        name: provider.name.clone(),
        kind: provider.kind.clone(),
        status,
        configured: provider.configured,
        scopes: ScopesBody { granted, available },
        services,
        get_token: CommandBody {
            curl: commands::get_token(base, &provider.code),
        },
        connect: CommandBody {
            curl: commands::connect(base, &provider.code, &provider.kind, &wanted),
        },
        docs_url: provider.docs_url.clone(),
    }
}

/// The commands the context hands out, built for this deployment's public URL. The key stays in
/// the agent's environment (`$LATCHKEY_API_KEY`), never in an answer.
pub(crate) mod commands {
    use serde_json::json;

    /// `body` as a shell single-quoted word.
    fn quoted(body: &str) -> String {
        format!("'{}'", body.replace('\'', r"'\''"))
    }

    fn call(method: &str, url: &str, body: &serde_json::Value) -> String {
        format!(
            "curl -s -X {method} {} -H \"Authorization: Bearer $LATCHKEY_API_KEY\" -H 'Content-Type: application/json' -d {}",
            quoted(url),
            quoted(&body.to_string())
        )
    }

    pub(crate) fn get_token(base: &str, provider: &str) -> String {
        call(
            "POST",
            &format!("{base}/tokens/fetch"),
            &json!({ "provider": provider }),
        )
    }

    /// An OAuth session (its `url` is for a person to open), the API key to store, or Telegram's
    /// session.
    pub(crate) fn connect(base: &str, provider: &str, kind: &str, scopes: &[&str]) -> String {
        match kind {
            "oauth2" if scopes.is_empty() => call(
                "POST",
                &format!("{base}/oauth/sessions"),
                &json!({ "provider": provider }),
            ),
            "oauth2" => call(
                "POST",
                &format!("{base}/oauth/sessions"),
                &json!({ "provider": provider, "scopes": scopes }),
            ),
            "mtproto" => call(
                "PUT",
                &format!("{base}/v1/connections/telegram"),
                &json!({ "sessionString": "<session string>", "apiId": 12345, "apiHash": "<api hash>" }),
            ),
            _ => call(
                "PUT",
                &format!("{base}/credentials"),
                &json!({ format!("{provider}ApiKey"): "<the provider's API key>" }),
            ),
        }
    }
}
