//! The request and response shapes of `/certificates`, as AGNT Connect shows them (camelCase,
//! timestamps `2026-03-01T10:00:00.000Z`), and the schemas stating agent-token's bounds.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use utoipa::{
    IntoParams, PartialSchema, ToSchema,
    openapi::{
        RefOr,
        schema::{AdditionalProperties, ObjectBuilder, Schema, Type},
    },
};

/// A certificate's metadata, by name.
pub(crate) type Metadata = BTreeMap<String, String>;

/// A new certificate. Unknown fields are refused.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct CreateCertificateBody {
    /// Human-readable name, 1 to 100 characters (trimmed), without control characters.
    #[schema(
        min_length = 1,
        max_length = 100,
        pattern = r"^[^\u0000-\u001f\u007f-\u009f]*[^\s\u0000-\u001f\u007f-\u009f][^\u0000-\u001f\u007f-\u009f]*$",
        example = "Production API Key"
    )]
    pub name: String,
    /// The signing algorithm, and so the key: RS256 (RSA 2048, the default), RS384 (RSA 3072),
    /// RS512 (RSA 4096), ES256 (P-256) or EdDSA (Ed25519). JWTs signed with the certificate must
    /// carry exactly this `alg`.
    #[schema(value_type = Option<CertificateAlgorithm>)]
    pub algorithm: Option<String>,
    /// When the certificate stops authenticating, RFC 3339: in the future and at most 5 years
    /// (60 calendar months) away. Default: 1 year (12 calendar months) after creation.
    #[schema(value_type = Option<String>, format = DateTime, example = "2027-03-01T00:00:00.000Z")]
    pub expires_at: Option<String>,
    /// Labels, e.g. `{"environment": "production"}`: up to 20 entries, names of 1 to 64
    /// characters, values of up to 500, no control characters.
    #[schema(value_type = Option<CertificateMetadata>)]
    pub metadata: Option<Metadata>,
}

/// The algorithms a certificate can sign with. For the OpenAPI document only: agent-token checks.
#[derive(Serialize, ToSchema)]
#[allow(dead_code, reason = "never constructed: only its derived OpenAPI schema is used")]
pub enum CertificateAlgorithm {
    #[serde(rename = "RS256")]
    Rs256,
    #[serde(rename = "RS384")]
    Rs384,
    #[serde(rename = "RS512")]
    Rs512,
    #[serde(rename = "ES256")]
    Es256,
    #[serde(rename = "EdDSA")]
    EdDsa,
}

/// A certificate's status. For the OpenAPI document only. Expiry is not a status: an `active`
/// certificate past `expiresAt` no longer authenticates nor is published.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
#[allow(dead_code, reason = "never constructed: only its derived OpenAPI schema is used")]
pub enum CertificateStatus {
    Active,
    Revoked,
}

/// A certificate's metadata: string values by name, bounded as agent-token bounds them.
pub struct CertificateMetadata;

impl PartialSchema for CertificateMetadata {
    fn schema() -> RefOr<Schema> {
        let name = ObjectBuilder::new()
            .schema_type(Type::String)
            .min_length(Some(1))
            .max_length(Some(64))
            .pattern(Some(crate::routes::constraints::pattern::LINE));
        let value = ObjectBuilder::new()
            .schema_type(Type::String)
            .max_length(Some(500))
            .pattern(Some(crate::routes::constraints::pattern::NO_CONTROL));
        let object = ObjectBuilder::new()
            .schema_type(Type::Object)
            .description(Some(
                "Up to 20 entries: names of 1 to 64 characters, string values of up to 500",
            ))
            .max_properties(Some(20))
            .property_names(Some(name))
            .additional_properties(Some(AdditionalProperties::RefOr(RefOr::T(Schema::Object(
                value.build(),
            )))));
        RefOr::T(Schema::Object(object.build()))
    }
}

impl ToSchema for CertificateMetadata {}

/// A certificate: its public key, never its private key.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CertificateBody {
    #[schema(example = "cert_a1b2c3d4e5f6g7h8")]
    pub id: String,
    /// The account it belongs to.
    #[schema(example = "acct_xyz789")]
    pub account: String,
    /// The key id JWTs signed with it carry in their header.
    #[schema(example = "kid_a1b2c3d4e5f6g7h8")]
    pub kid: String,
    pub name: String,
    /// SubjectPublicKeyInfo, PEM.
    #[schema(example = "-----BEGIN PUBLIC KEY-----\nMIIBIjANBgkqhki...\n-----END PUBLIC KEY-----")]
    pub public_key: String,
    #[schema(value_type = CertificateAlgorithm)]
    pub algorithm: String,
    #[schema(value_type = CertificateStatus)]
    pub status: String,
    #[schema(format = DateTime, example = "2027-03-01T00:00:00.000Z")]
    pub expires_at: String,
    pub metadata: Metadata,
    #[schema(format = DateTime)]
    pub created_at: String,
    #[schema(format = DateTime)]
    pub updated_at: String,
}

/// A certificate just created, with its private key: shown this once, never again.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CreatedCertificateBody {
    #[serde(flatten)]
    pub certificate: CertificateBody,
    /// PKCS#8, PEM. Store it now: Latchkey does not keep it, and there is no way to get it back.
    #[schema(example = "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgk...\n-----END PRIVATE KEY-----")]
    pub private_key: String,
}

/// A certificate as listed: no keys.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CertificateSummary {
    pub id: String,
    pub kid: String,
    pub name: String,
    #[schema(value_type = CertificateAlgorithm)]
    pub algorithm: String,
    #[schema(value_type = CertificateStatus)]
    pub status: String,
    #[schema(format = DateTime)]
    pub expires_at: String,
    pub metadata: Metadata,
    #[schema(format = DateTime)]
    pub created_at: String,
}

/// The account's certificates, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct CertificateList {
    pub data: Vec<CertificateSummary>,
}

/// A revoked certificate.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RevokedCertificateBody {
    pub id: String,
    /// Always `revoked`.
    #[schema(example = "revoked")]
    pub status: String,
    /// When it was revoked.
    #[schema(format = DateTime)]
    pub updated_at: String,
}

/// A certificate's public key, for third parties verifying its JWTs.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PublicKeyBody {
    pub kid: String,
    /// SubjectPublicKeyInfo, PEM.
    pub public_key: String,
    #[schema(value_type = CertificateAlgorithm)]
    pub algorithm: String,
}

/// Whose keys.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct JwksQuery {
    /// The account, `acct_…`. Any other text names no account, which has no keys.
    #[param(example = "acct_xyz789")]
    pub account: String,
}
