//! `GET /docs/providers`: the providers this deployment enables.

use axum::{Json, extract::State};
use latchkey_proto::oauth::v1 as pb;

use super::bodies::{ProviderBody, ProviderList, ProviderServiceBody};
use crate::{openapi::responses as r, problem::Problem, state::AppState};

/// Supported providers
#[utoipa::path(
    get,
    path = "/docs/providers",
    tag = "oauth",
    responses(
        (status = 200, description = "The providers this deployment enables", body = ProviderList),
        r::ServiceCall,
    )
)]
pub(crate) async fn list_providers(State(state): State<AppState>) -> Result<Json<ProviderList>, Problem> {
    let listed = state
        .oauth
        .clone()
        .list_providers(tonic::Request::new(pb::ListProvidersRequest {}))
        .await?
        .into_inner();
    let data = listed
        .providers
        .into_iter()
        .map(|provider| ProviderBody {
            code: provider.code,
            name: provider.name,
            kind: provider.kind,
            default_scopes: provider.default_scopes,
            services: provider
                .services
                .into_iter()
                .map(|service| ProviderServiceBody {
                    code: service.code,
                    name: service.name,
                    scopes: service.scopes,
                    api_base_url: service.api_base_url,
                })
                .collect(),
            docs_url: provider.docs_url,
            configured: provider.configured,
        })
        .collect();
    Ok(Json(ProviderList { data }))
}
