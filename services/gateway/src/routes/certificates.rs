//! `/certificates` (AGNT Connect): signing certificates, through agent-token. Exactly the seed's
//! paths and camelCase shapes: create answers the private key once, the list leaves the keys out,
//! `/certificates/public/{kid}` and the account's JWKS need no authentication. The rules (lengths,
//! algorithms, lifetimes, metadata bounds) are agent-token's; the schemas here restate them.

mod bodies;

use axum::{
    Json,
    extract::State,
    http::{StatusCode, header},
    response::IntoResponse,
};
use latchkey_ids::{AccountId, CertificateId, CertificateKid};
use latchkey_proto::agent_token::v1 as pb;

pub(crate) use bodies::*;

use super::oauth::iso_ms;
use crate::{
    id_path::IdPath, json::ValidJson, openapi::responses as r, principal::Principal, problem::Problem,
    query::ValidQuery, state::AppState,
};

/// How long third parties may cache a public key or the JWKS: a revocation reaches a verifier
/// that honours it within this long (agent-token itself refuses a revoked certificate's JWTs at
/// once).
const PUBLIC_CACHE_CONTROL: &str = "public, max-age=60";

fn required_time(id: &str, ms: i64) -> Result<String, Problem> {
    iso_ms(ms).ok_or_else(|| Problem::internal(&format_args!("certificate {id} has an invalid timestamp")))
}

fn certificate_body(certificate: pb::Certificate) -> Result<CertificateBody, Problem> {
    Ok(CertificateBody {
        expires_at: required_time(&certificate.id, certificate.expires_at_ms)?,
        created_at: required_time(&certificate.id, certificate.created_at_ms)?,
        updated_at: required_time(&certificate.id, certificate.updated_at_ms)?,
        metadata: certificate.metadata.into_iter().collect(),
        id: certificate.id,
        account: certificate.account_id,
        kid: certificate.kid,
        name: certificate.name,
        public_key: certificate.public_key,
        algorithm: certificate.algorithm,
        status: certificate.status,
    })
}

fn summary(certificate: pb::Certificate) -> Result<CertificateSummary, Problem> {
    Ok(CertificateSummary {
        expires_at: required_time(&certificate.id, certificate.expires_at_ms)?,
        created_at: required_time(&certificate.id, certificate.created_at_ms)?,
        metadata: certificate.metadata.into_iter().collect(),
        id: certificate.id,
        kid: certificate.kid,
        name: certificate.name,
        algorithm: certificate.algorithm,
        status: certificate.status,
    })
}

/// Create a certificate
///
/// Generates a key pair (RS256: RSA 2048 by default; RS384: RSA 3072; RS512: RSA 4096; ES256:
/// P-256; EdDSA: Ed25519) and answers its private key (PKCS#8 PEM) this once: Latchkey keeps only
/// the public key. 402 when the account's plan allows no more certificates (revoked ones do not
/// count); 422 when it holds 100, revoked ones included.
#[utoipa::path(
    post,
    path = "/certificates",
    tag = "certificates",
    request_body(content = CreateCertificateBody, content_type = "application/json"),
    responses(
        (status = 201, description = "The certificate, with its private key shown only now", body = CreatedCertificateBody),
        (status = 402, response = r::PlanLimit),
        (status = 422, response = r::Unprocessable),
        r::Authenticated,
        r::JsonBody,
    )
)]
pub(crate) async fn create_certificate(
    State(state): State<AppState>,
    principal: Principal,
    ValidJson(body): ValidJson<CreateCertificateBody>,
) -> Result<(StatusCode, Json<CreatedCertificateBody>), Problem> {
    let request = principal.grpc_request(pb::CreateCertificateRequest {
        name: body.name,
        algorithm: body.algorithm.unwrap_or_default(),
        expires_at: body.expires_at.unwrap_or_default(),
        metadata: body.metadata.unwrap_or_default().into_iter().collect(),
    });
    let created = state
        .certificates
        .clone()
        .create_certificate(request)
        .await?
        .into_inner();
    let certificate = created
        .certificate
        .ok_or_else(|| Problem::internal(&"agent-token answered CreateCertificate without the certificate"))?;
    let body = CreatedCertificateBody {
        certificate: certificate_body(certificate)?,
        private_key: created.private_key,
    };
    Ok((StatusCode::CREATED, Json(body)))
}

/// List certificates
///
/// Newest first; no keys.
#[utoipa::path(
    get,
    path = "/certificates",
    tag = "certificates",
    responses(
        (status = 200, description = "The account's certificates", body = CertificateList),
        r::Authenticated,
    )
)]
pub(crate) async fn list_certificates(
    State(state): State<AppState>,
    principal: Principal,
) -> Result<Json<CertificateList>, Problem> {
    let request = principal.grpc_request(pb::ListCertificatesRequest {});
    let listed = state
        .certificates
        .clone()
        .list_certificates(request)
        .await?
        .into_inner();
    let data = listed.certificates.into_iter().map(summary).collect::<Result<_, _>>()?;
    Ok(Json(CertificateList { data }))
}

/// Get the active certificate
///
/// The most recently created certificate that is active and not expired.
#[utoipa::path(
    get,
    path = "/certificates/active",
    tag = "certificates",
    responses(
        (status = 200, description = "The newest active certificate", body = CertificateBody),
        (status = 404, response = r::NotFound),
        r::Authenticated,
    )
)]
pub(crate) async fn active_certificate(
    State(state): State<AppState>,
    principal: Principal,
) -> Result<Json<CertificateBody>, Problem> {
    let request = principal.grpc_request(pb::GetActiveCertificateRequest {});
    let certificate = state
        .certificates
        .clone()
        .get_active_certificate(request)
        .await?
        .into_inner();
    Ok(Json(certificate_body(certificate)?))
}

/// Get a public key
///
/// Public: no authentication. The public key of an active, unexpired certificate, for third
/// parties verifying JWTs signed with it. A revoked, expired, deleted or unknown kid is 404, so
/// verifiers stop trusting it. Cacheable for 60 s.
#[utoipa::path(
    get,
    path = "/certificates/public/{kid}",
    tag = "certificates",
    params(("kid" = String, Path, description = "The certificate's key id, `kid_…`")),
    responses(
        (status = 200, description = "The public key", body = PublicKeyBody,
            headers(("Cache-Control" = String, description = "`public, max-age=60`"))),
        (status = 404, response = r::NotFound),
        r::ServiceCall,
    )
)]
pub(crate) async fn public_key(
    State(state): State<AppState>,
    IdPath(kid): IdPath<CertificateKid>,
) -> Result<impl IntoResponse, Problem> {
    let request = tonic::Request::new(pb::GetPublicKeyRequest { kid: kid.into_string() });
    let key = state.certificates.clone().get_public_key(request).await?.into_inner();
    let body = PublicKeyBody {
        kid: key.kid,
        public_key: key.public_key,
        algorithm: key.algorithm,
    };
    Ok(([(header::CACHE_CONTROL, PUBLIC_CACHE_CONTROL)], Json(body)))
}

/// An account's certificate keys (JWKS)
///
/// Public: no authentication. The account's active, unexpired certificates as a JSON Web Key Set
/// (RFC 7517): RSA keys with `n` and `e`, P-256 keys with `crv`, `x`, `y`, Ed25519 keys as OKP
/// (RFC 8037), each with its `kid`, `use: sig` and the one `alg` it signs with. An account that
/// does not exist, or is not an account id, has no keys. Cacheable for 60 s.
#[utoipa::path(
    get,
    path = "/certificates/jwks.json",
    tag = "certificates",
    params(JwksQuery),
    responses(
        (status = 200, description = "The account's public keys", content_type = "application/json", body = Object,
            headers(("Cache-Control" = String, description = "`public, max-age=60`"))),
        (status = 400, response = r::BadRequest),
        r::ServiceCall,
    )
)]
pub(crate) async fn jwks(
    State(state): State<AppState>,
    ValidQuery(query): ValidQuery<JwksQuery>,
) -> Result<impl IntoResponse, Problem> {
    let headers = [
        (header::CONTENT_TYPE, "application/json"),
        (header::CACHE_CONTROL, PUBLIC_CACHE_CONTROL),
    ];
    // Text that is not an account id names no account: the answer of an unknown one.
    let Ok(account) = AccountId::try_from(query.account) else {
        return Ok((headers, r#"{"keys":[]}"#.to_owned()));
    };
    let request = latchkey_server::with_account(pb::GetCertificateJwksRequest {}, account.as_str(), None);
    let jwks = state
        .certificates
        .clone()
        .get_certificate_jwks(request)
        .await?
        .into_inner();
    Ok((headers, jwks.jwks_json))
}

/// Get a certificate
///
/// The certificate without its private key.
#[utoipa::path(
    get,
    path = "/certificates/{id}",
    tag = "certificates",
    params(("id" = String, Path, description = "The certificate's id, `cert_…`")),
    responses(
        (status = 200, description = "The certificate", body = CertificateBody),
        (status = 404, response = r::NotFound),
        r::Authenticated,
    )
)]
pub(crate) async fn get_certificate(
    State(state): State<AppState>,
    principal: Principal,
    IdPath(id): IdPath<CertificateId>,
) -> Result<Json<CertificateBody>, Problem> {
    let request = principal.grpc_request(pb::GetCertificateRequest { id: id.into_string() });
    let certificate = state.certificates.clone().get_certificate(request).await?.into_inner();
    Ok(Json(certificate_body(certificate)?))
}

/// Revoke a certificate
///
/// Immediate and irreversible: from now on no JWT signed with it is accepted, and its public key
/// is no longer published. Revoking a revoked certificate answers it unchanged (`updatedAt` is
/// when it was revoked).
#[utoipa::path(
    post,
    path = "/certificates/{id}/revoke",
    tag = "certificates",
    params(("id" = String, Path, description = "The certificate's id, `cert_…`")),
    responses(
        (status = 200, description = "Revoked", body = RevokedCertificateBody),
        (status = 404, response = r::NotFound),
        r::Authenticated,
    )
)]
pub(crate) async fn revoke_certificate(
    State(state): State<AppState>,
    principal: Principal,
    IdPath(id): IdPath<CertificateId>,
) -> Result<Json<RevokedCertificateBody>, Problem> {
    let request = principal.grpc_request(pb::RevokeCertificateRequest { id: id.into_string() });
    let certificate = state
        .certificates
        .clone()
        .revoke_certificate(request)
        .await?
        .into_inner();
    Ok(Json(RevokedCertificateBody {
        updated_at: required_time(&certificate.id, certificate.updated_at_ms)?,
        id: certificate.id,
        status: certificate.status,
    }))
}

/// Delete a certificate
///
/// Permanently deletes a revoked certificate. An active one is refused with 400: revoke it first.
#[utoipa::path(
    delete,
    path = "/certificates/{id}",
    tag = "certificates",
    params(("id" = String, Path, description = "The certificate's id, `cert_…`")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 400, response = r::BadRequest),
        (status = 404, response = r::NotFound),
        r::Authenticated,
    )
)]
pub(crate) async fn delete_certificate(
    State(state): State<AppState>,
    principal: Principal,
    IdPath(id): IdPath<CertificateId>,
) -> Result<StatusCode, Problem> {
    let request = principal.grpc_request(pb::DeleteCertificateRequest { id: id.into_string() });
    state.certificates.clone().delete_certificate(request).await?;
    Ok(StatusCode::NO_CONTENT)
}
