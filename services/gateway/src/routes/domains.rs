//! `/v1/domains`: the account's verified domains, through agent-token's `DomainService`. AuthRAI
//! (seed 002) shows the add ("returns TXT record details") and the verify ("trigger a verification
//! check"); list, get and delete follow the other `/v1` resources. See docs/domains.md.

use axum::{Json, extract::State, http::StatusCode};
use chrono::{DateTime, Utc};
use latchkey_ids::DomainId;
use latchkey_proto::agent_token::v1 as pb;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::{
    id_path::IdPath, json::ValidJson, openapi::responses as r, principal::Principal, problem::Problem,
    query::ValidQuery, routes::time_from_ms, state::AppState,
};

/// A domain to claim.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateDomainBody {
    /// A domain name: ASCII letters, digits and hyphens in dot-separated labels of 1 to 63
    /// characters (not starting or ending with a hyphen), at least two labels, the last starting
    /// with a letter, at most 253 characters, one trailing dot allowed. Lowercased. Not a wildcard,
    /// an IP address or `localhost`; an internationalized name goes in its `xn--` (punycode) form.
    #[schema(
        min_length = 1,
        max_length = 254,
        pattern = r"^([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.?$",
        example = "example.com"
    )]
    pub domain: String,
}

/// The DNS record that proves control of the domain.
#[derive(Debug, Serialize, ToSchema)]
pub struct TxtRecordBody {
    /// Where to publish it.
    #[schema(example = "_latchkey-challenge.example.com")]
    pub name: String,
    /// Always `TXT`.
    #[serde(rename = "type")]
    #[schema(example = "TXT")]
    pub record_type: &'static str,
    /// What it must hold, exactly. Unique to this claim.
    #[schema(example = "latchkey-domain-verification=3kQ9mX2vB7nL4pR6tY1wZ0cJ5hG2dA8f")]
    pub value: String,
}

/// A claimed domain.
#[derive(Debug, Serialize, ToSchema)]
pub struct DomainBody {
    #[schema(example = "dom_0123456789abcdef")]
    pub id: String,
    /// Lowercase, no trailing dot.
    #[schema(example = "example.com")]
    pub domain: String,
    #[schema(value_type = DomainStatus, example = "pending")]
    pub status: String,
    pub txt_record: TxtRecordBody,
    pub created_at: DateTime<Utc>,
    /// When a check found the record; `null` unless `verified`.
    pub verified_at: Option<DateTime<Utc>>,
    /// When DNS was last asked; `null` before the first check.
    pub last_checked_at: Option<DateTime<Utc>>,
    /// Why the last check did not verify; `null` when it did or before the first check.
    #[schema(value_type = Option<DomainReason>)]
    pub reason: Option<String>,
}

/// Where a claim stands: `pending` until a check finds the record; `verified`; `failed` when a
/// verified domain's record went away or changed, or a pending one expired. A check that finds the
/// record verifies a pending or failed domain.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum DomainStatus {
    Pending,
    Verified,
    Failed,
}

impl DomainStatus {
    fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Verified => "verified",
            Self::Failed => "failed",
        }
    }
}

/// Why a check did not verify: `no_record` (the name does not exist or has no TXT record),
/// `value_mismatch` (TXT records, none with the value), `dns_error` (the name servers failed or
/// could not be reached), `timeout`, `expired` (pending too long).
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
#[allow(dead_code, reason = "never constructed: only its derived OpenAPI schema is used")]
pub enum DomainReason {
    NoRecord,
    ValueMismatch,
    DnsError,
    Timeout,
    Expired,
}

/// Which domains to list.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct DomainsQuery {
    /// Only domains in this status. Default: every status.
    pub status: Option<DomainStatus>,
}

/// The account's domains, oldest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct DomainList {
    pub data: Vec<DomainBody>,
}

fn domain_body(domain: pb::Domain) -> Result<DomainBody, Problem> {
    let created_at = time_from_ms(domain.created_at_ms)
        .ok_or_else(|| Problem::internal(&format_args!("domain {} has an invalid timestamp", domain.id)))?;
    Ok(DomainBody {
        created_at,
        verified_at: time_from_ms(domain.verified_at_ms),
        last_checked_at: time_from_ms(domain.last_checked_at_ms),
        reason: Some(domain.reason).filter(|reason| !reason.is_empty()),
        txt_record: TxtRecordBody {
            name: domain.txt_record_name,
            record_type: "TXT",
            value: domain.txt_record_value,
        },
        status: domain.status,
        domain: domain.domain,
        id: domain.id,
    })
}

const DOMAIN_ID: &str = "The domain's id, `dom_…`";

/// Add a domain for DNS verification
///
/// Returns the TXT record to publish. The domain is `pending` until `POST /v1/domains/{id}/verify`
/// finds the record. An account claims a name once (422 `UNPROCESSABLE` the second time, and past
/// 100 domains); other accounts may claim the same name, each with its own record.
#[utoipa::path(
    post,
    path = "/v1/domains",
    tag = "domains",
    request_body(content = CreateDomainBody, content_type = "application/json"),
    responses(
        (status = 402, response = r::PlanLimit),
        (status = 201, description = "The claim, pending, with the TXT record to publish", body = DomainBody,
            links(
                ("VerifyDomain" = (operation_id = "verify_domain", parameters(("id" = "$response.body#/id")),
                    description = "Check the record once it is published")),
                ("GetDomain" = (operation_id = "get_domain", parameters(("id" = "$response.body#/id")),
                    description = "The claim as it stands")),
            )),
        (status = 422, response = r::Unprocessable),
        r::Authenticated,
        r::JsonBody,
    )
)]
pub(crate) async fn create_domain(
    State(state): State<AppState>,
    principal: Principal,
    ValidJson(body): ValidJson<CreateDomainBody>,
) -> Result<(StatusCode, Json<DomainBody>), Problem> {
    let request = principal.grpc_request(pb::CreateDomainRequest { domain: body.domain });
    let domain = state.domains.clone().create_domain(request).await?.into_inner();
    Ok((StatusCode::CREATED, Json(domain_body(domain)?)))
}

/// List domains
#[utoipa::path(
    get,
    path = "/v1/domains",
    tag = "domains",
    params(DomainsQuery),
    responses(
        (status = 200, description = "The account's domains, oldest first", body = DomainList),
        (status = 400, response = r::BadRequest),
        r::Authenticated,
    )
)]
pub(crate) async fn list_domains(
    State(state): State<AppState>,
    principal: Principal,
    ValidQuery(query): ValidQuery<DomainsQuery>,
) -> Result<Json<DomainList>, Problem> {
    let status = query.status.map(DomainStatus::as_str).unwrap_or_default().to_owned();
    let request = principal.grpc_request(pb::ListDomainsRequest { status });
    let listed = state.domains.clone().list_domains(request).await?.into_inner();
    let data = listed.domains.into_iter().map(domain_body).collect::<Result<_, _>>()?;
    Ok(Json(DomainList { data }))
}

/// Get a domain
#[utoipa::path(
    get,
    path = "/v1/domains/{id}",
    tag = "domains",
    params(("id" = String, Path, description = DOMAIN_ID)),
    responses(
        (status = 200, description = "The domain", body = DomainBody),
        (status = 404, response = r::NotFound),
        r::Authenticated,
    )
)]
pub(crate) async fn get_domain(
    State(state): State<AppState>,
    principal: Principal,
    IdPath(id): IdPath<DomainId>,
) -> Result<Json<DomainBody>, Problem> {
    let request = principal.grpc_request(pb::GetDomainRequest { id: id.into_string() });
    let domain = state.domains.clone().get_domain(request).await?.into_inner();
    Ok(Json(domain_body(domain)?))
}

/// Trigger a verification check
///
/// Looks the TXT record up now. Answers 200 with the domain as it then stands: `verified` (with
/// `verified_at`) when a record holds the value; otherwise its status is unchanged (`pending` or
/// `failed`) and `reason` says why. A `verified` domain whose record is gone or changed becomes
/// `failed`; a DNS error or timeout leaves it verified.
#[utoipa::path(
    post,
    path = "/v1/domains/{id}/verify",
    tag = "domains",
    params(("id" = String, Path, description = DOMAIN_ID)),
    responses(
        (status = 200, description = "The domain after the check", body = DomainBody),
        (status = 404, response = r::NotFound),
        r::Authenticated,
    )
)]
pub(crate) async fn verify_domain(
    State(state): State<AppState>,
    principal: Principal,
    IdPath(id): IdPath<DomainId>,
) -> Result<Json<DomainBody>, Problem> {
    let request = principal.grpc_request(pb::VerifyDomainRequest { id: id.into_string() });
    let domain = state.domains.clone().verify_domain(request).await?.into_inner();
    Ok(Json(domain_body(domain)?))
}

/// Delete a domain
///
/// Removes the claim: a verified domain stops vouching for agent owners and webhook endpoints.
#[utoipa::path(
    delete,
    path = "/v1/domains/{id}",
    tag = "domains",
    params(("id" = String, Path, description = DOMAIN_ID)),
    responses(
        (status = 204, description = "Deleted"),
        (status = 404, response = r::NotFound),
        r::Authenticated,
    )
)]
pub(crate) async fn delete_domain(
    State(state): State<AppState>,
    principal: Principal,
    IdPath(id): IdPath<DomainId>,
) -> Result<StatusCode, Problem> {
    let request = principal.grpc_request(pb::DeleteDomainRequest { id: id.into_string() });
    state.domains.clone().delete_domain(request).await?;
    Ok(StatusCode::NO_CONTENT)
}
