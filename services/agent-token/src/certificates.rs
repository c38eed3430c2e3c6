//! Signing certificates (AGNT Connect): key pairs generated here, whose private key is handed to
//! the account once and never kept. The public key is published (`/certificates/public/{kid}`, the
//! account's JWKS), and a JWT signed with the private key authenticates like an API key
//! ([`jwt`]). Every query names the account, except the public ones by kid; every change commits
//! together with its event.

mod grpc;
mod jwt;
mod keys;
mod rules;

use std::{collections::BTreeMap, sync::Arc};

use latchkey_errors::{ApiError, ErrorCode};
use latchkey_events::{
    DomainEvent, Envelope,
    catalogue::{CertificateCreated, CertificateDeleted, CertificateRevoked},
};
use latchkey_ids::{AccountId, CertificateId, CertificateKid};
use latchkey_server::{InfraError, Limited, stored_id};
use latchkey_storage::{now_ms, sqlx};
use zeroize::Zeroizing;

use crate::{AgentToken, AgentTokenError, EVENT_SOURCE, plans::COUNT_CERTIFICATES};

pub(crate) use grpc::CertificateApi;
pub use jwt::{
    CertificatePrincipal, JWT_LEEWAY_SECS, MAX_JTI_CHARS, MAX_JWT_BYTES, MAX_JWT_LIFETIME_SECS, looks_like_jwt,
};
pub(crate) use jwt::{UsedJtis, used_jtis};
pub use keys::{Algorithm, PublicJwk};
pub use rules::{
    DEFAULT_LIFETIME_MONTHS, MAX_CERTIFICATES, MAX_LIFETIME_MONTHS, MAX_METADATA_ENTRIES, MAX_METADATA_KEY_CHARS,
    MAX_METADATA_VALUE_CHARS, MAX_NAME_CHARS, NewCertificate,
};

/// The fully qualified gRPC service name, as health reports it.
pub const GRPC_SERVICE: &str = "latchkey.agent_token.v1.CertificateService";

/// Key generations running at once: each takes a core (RSA-4096 for most of a second), so a burst
/// of creations queues here instead of starving the blocking pool and everything else on it.
const CONCURRENT_KEY_GENERATIONS: usize = 2;

/// Where a certificate stands. Revocation is final; expiry is not a status but `expires_at`
/// passing (the seed's statuses are `active` and `revoked`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CertificateStatus {
    Active,
    Revoked,
}

impl CertificateStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Revoked => "revoked",
        }
    }
}

/// A certificate as stored: its public key only.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Certificate {
    pub id: CertificateId,
    pub account_id: AccountId,
    pub kid: CertificateKid,
    pub name: String,
    pub algorithm: Algorithm,
    pub status: CertificateStatus,
    /// SubjectPublicKeyInfo, PEM.
    pub public_key_pem: String,
    pub jwk: PublicJwk,
    pub expires_at_ms: i64,
    pub metadata: BTreeMap<String, String>,
    pub created_at_ms: i64,
    pub updated_at_ms: i64,
}

impl Certificate {
    /// Active and not yet expired at `now_ms`: it authenticates and is published.
    pub fn is_usable(&self, now_ms: i64) -> bool {
        self.status == CertificateStatus::Active && self.expires_at_ms > now_ms
    }
}

/// A certificate just created, with its private key (PKCS#8 PEM), which the caller sees once and
/// which is wiped from memory when this is dropped.
pub struct CreatedCertificate {
    pub certificate: Certificate,
    pub private_key_pem: Zeroizing<String>,
}

impl std::fmt::Debug for CreatedCertificate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CreatedCertificate")
            .field("certificate", &self.certificate)
            .finish_non_exhaustive()
    }
}

/// What certificates need from the service: the audience their JWTs must name, and the gate of key
/// generation. Cheap to clone.
#[derive(Clone, Debug)]
pub(crate) struct CertificateSettings {
    /// `server.public_url`: the `aud` every certificate JWT must carry. Empty refuses every JWT.
    pub(crate) audience: Arc<str>,
    key_generations: Arc<tokio::sync::Semaphore>,
}

impl Default for CertificateSettings {
    fn default() -> Self {
        Self {
            audience: "".into(),
            key_generations: Arc::new(tokio::sync::Semaphore::new(CONCURRENT_KEY_GENERATIONS)),
        }
    }
}

impl CertificateSettings {
    pub(crate) fn with_audience(self, audience: &str) -> Self {
        Self {
            audience: audience.trim_end_matches('/').into(),
            ..self
        }
    }
}

type CertificateRow = (
    String,
    String,
    String,
    String,
    String,
    String,
    String,
    String,
    String,
    i64,
    i64,
    i64,
);

const COLUMNS: &str = "id, account_id, kid, name, algorithm, public_key_pem, public_jwk, status, metadata, \
                       expires_at, created_at, updated_at";

/// Newest first; ids break ties of the same millisecond (creation keeps an account's strictly
/// increasing, see `create_certificate`).
const NEWEST_FIRST: &str = "ORDER BY created_at DESC, id DESC";

fn from_row(row: CertificateRow) -> Result<Certificate, AgentTokenError> {
    let (id, account_id, kid, name, algorithm, public_key_pem, jwk, status, metadata, expires, created, updated) = row;
    let damaged = |what: &'static str| {
        tracing::error!(certificate = %id, what, "a stored certificate does not read back");
        AgentTokenError::Infra(InfraError::Internal("a stored certificate does not read back"))
    };
    Ok(Certificate {
        algorithm: Algorithm::parse(&algorithm).ok_or_else(|| damaged("algorithm"))?,
        status: match status.as_str() {
            "active" => CertificateStatus::Active,
            "revoked" => CertificateStatus::Revoked,
            _ => return Err(damaged("status")),
        },
        jwk: serde_json::from_str(&jwk).map_err(|_| damaged("public_jwk"))?,
        metadata: serde_json::from_str(&metadata).map_err(|_| damaged("metadata"))?,
        id: stored_id(id)?,
        account_id: stored_id(account_id)?,
        kid: stored_id(kid)?,
        name,
        public_key_pem,
        expires_at_ms: expires,
        created_at_ms: created,
        updated_at_ms: updated,
    })
}

/// `certificate not found`: an unknown id, another account's, and a malformed one alike.
pub(crate) fn not_found() -> AgentTokenError {
    AgentTokenError::Invalid(ApiError::not_found("certificate"))
}

fn envelope<E: DomainEvent>(account: &AccountId, actor: Option<&str>, event: &E) -> Envelope {
    Envelope::new(EVENT_SOURCE, account.as_str(), actor, event)
}

impl AgentToken {
    /// Creates a certificate in `account`: checks the request, generates its key pair off the async
    /// threads, stores the public key and announces `certificate.created` in one transaction.
    pub async fn create_certificate(
        &self,
        account: &AccountId,
        actor: Option<&str>,
        new: NewCertificate,
    ) -> Result<CreatedCertificate, AgentTokenError> {
        let valid = new.validated(now_ms())?;
        // Refused before the costly part; checked again where it counts, in the transaction.
        self.check_certificate_room(account, &mut *self.db.pool().acquire().await?)
            .await?;
        let generated = {
            let _turn = self
                .certificates
                .key_generations
                .acquire()
                .await
                .map_err(|_| AgentTokenError::Infra(InfraError::Unavailable("certificate key generation")))?;
            let algorithm = valid.algorithm;
            tokio::task::spawn_blocking(move || keys::generate(algorithm))
                .await
                .map_err(|_| AgentTokenError::Infra(InfraError::Internal("certificate key generation panicked")))?
                .map_err(|error| {
                    tracing::error!(%error, algorithm = algorithm.as_str(), "certificate key generation failed");
                    AgentTokenError::Infra(InfraError::Internal("certificate key generation failed"))
                })?
        };
        let mut tx = self.db.begin_write().await?;
        self.check_plan(&mut tx, account, Limited::Certificates, COUNT_CERTIFICATES)
            .await?;
        let last_created = self.check_certificate_room(account, &mut tx).await?;
        // Strictly after the account's newest, so "newest first" and "the most recently created"
        // are exact even for two creations within a millisecond.
        let now = now_ms().max(last_created + 1);
        let certificate = Certificate {
            id: CertificateId::new(),
            account_id: account.clone(),
            kid: CertificateKid::new(),
            name: valid.name,
            algorithm: valid.algorithm,
            status: CertificateStatus::Active,
            public_key_pem: generated.public_key_pem,
            jwk: generated.jwk,
            expires_at_ms: valid.expires_at_ms,
            metadata: valid.metadata,
            created_at_ms: now,
            updated_at_ms: now,
        };
        let jwk = serde_json::to_string(&certificate.jwk)
            .map_err(|_| AgentTokenError::Infra(InfraError::Internal("a JWK does not serialise")))?;
        let metadata = serde_json::to_string(&certificate.metadata)
            .map_err(|_| AgentTokenError::Infra(InfraError::Internal("metadata does not serialise")))?;
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "INSERT INTO certificates ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)"
        )))
        .bind(certificate.id.as_str())
        .bind(account.as_str())
        .bind(certificate.kid.as_str())
        .bind(&certificate.name)
        .bind(certificate.algorithm.as_str())
        .bind(&certificate.public_key_pem)
        .bind(jwk)
        .bind(certificate.status.as_str())
        .bind(metadata)
        .bind(certificate.expires_at_ms)
        .bind(certificate.created_at_ms)
        .bind(certificate.updated_at_ms)
        .execute(&mut *tx)
        .await?;
        let event = CertificateCreated {
            certificate_id: certificate.id.to_string(),
            kid: certificate.kid.to_string(),
            name: certificate.name.clone(),
            algorithm: certificate.algorithm.as_str().to_owned(),
            expires_at_ms: certificate.expires_at_ms,
            metadata: certificate.metadata.clone(),
        };
        self.outbox.enqueue(&mut tx, &envelope(account, actor, &event)).await?;
        self.outbox.commit(tx).await?;
        Ok(CreatedCertificate {
            certificate,
            private_key_pem: generated.private_key_pem,
        })
    }

    /// Refuses a creation when the account holds [`MAX_CERTIFICATES`] already; answers when its
    /// newest was created (0 for none).
    async fn check_certificate_room(
        &self,
        account: &AccountId,
        connection: &mut sqlx::AnyConnection,
    ) -> Result<i64, AgentTokenError> {
        let (count, newest): (i64, i64) =
            sqlx::query_as("SELECT COUNT(*), COALESCE(MAX(created_at), 0) FROM certificates WHERE account_id = $1")
                .bind(account.as_str())
                .fetch_one(&mut *connection)
                .await?;
        if count >= MAX_CERTIFICATES {
            return Err(AgentTokenError::Invalid(ApiError::new(
                ErrorCode::Unprocessable,
                format!("an account holds at most {MAX_CERTIFICATES} certificates: revoke and delete some first"),
            )));
        }
        Ok(newest)
    }

    /// The account's certificates, newest first.
    pub async fn list_certificates(&self, account: &AccountId) -> Result<Vec<Certificate>, AgentTokenError> {
        let rows: Vec<CertificateRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM certificates WHERE account_id = $1 {NEWEST_FIRST}"
        )))
        .bind(account.as_str())
        .fetch_all(self.db.pool())
        .await?;
        rows.into_iter().map(from_row).collect()
    }

    /// One of the account's certificates; another account's is not found.
    pub async fn get_certificate(
        &self,
        account: &AccountId,
        id: &CertificateId,
    ) -> Result<Certificate, AgentTokenError> {
        let row: Option<CertificateRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM certificates WHERE account_id = $1 AND id = $2"
        )))
        .bind(account.as_str())
        .bind(id.as_str())
        .fetch_optional(self.db.pool())
        .await?;
        row.ok_or_else(not_found).and_then(from_row)
    }

    /// The account's most recently created certificate that is active and unexpired.
    pub async fn active_certificate(&self, account: &AccountId) -> Result<Certificate, AgentTokenError> {
        self.usable_certificates(account, 1).await?.pop().ok_or_else(|| {
            AgentTokenError::Invalid(ApiError::new(
                ErrorCode::NotFound,
                "the account has no active, unexpired certificate",
            ))
        })
    }

    /// Up to `limit` of the account's active, unexpired certificates, newest first.
    async fn usable_certificates(&self, account: &AccountId, limit: i64) -> Result<Vec<Certificate>, AgentTokenError> {
        let rows: Vec<CertificateRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM certificates WHERE account_id = $1 AND status = 'active' AND expires_at > $2 \
             {NEWEST_FIRST} LIMIT $3"
        )))
        .bind(account.as_str())
        .bind(now_ms())
        .bind(limit)
        .fetch_all(self.db.pool())
        .await?;
        rows.into_iter().map(from_row).collect()
    }

    /// Revokes a certificate: from the commit on, none of its JWTs is accepted and its public key
    /// is no longer published. Revoking a revoked certificate changes nothing, emits nothing and
    /// answers it as it is (its `updated_at` is when it was revoked).
    pub async fn revoke_certificate(
        &self,
        account: &AccountId,
        actor: Option<&str>,
        id: &CertificateId,
    ) -> Result<Certificate, AgentTokenError> {
        let mut tx = self.db.begin_write().await?;
        let now = now_ms();
        // Conditional on `active`, so of two racing revocations one changes the row and announces it.
        let kid: Option<String> = sqlx::query_scalar(
            "UPDATE certificates SET status = 'revoked', updated_at = $1 \
             WHERE account_id = $2 AND id = $3 AND status = 'active' RETURNING kid",
        )
        .bind(now)
        .bind(account.as_str())
        .bind(id.as_str())
        .fetch_optional(&mut *tx)
        .await?;
        match kid {
            Some(kid) => {
                // The console sessions it signed in end with it.
                Self::end_console_sessions_of(&mut tx, account, id.as_str()).await?;
                let event = CertificateRevoked {
                    certificate_id: id.to_string(),
                    kid,
                    at_ms: now,
                };
                self.outbox.enqueue(&mut tx, &envelope(account, actor, &event)).await?;
                self.outbox.commit(tx).await?;
            }
            None => tx.rollback().await?,
        }
        self.get_certificate(account, id).await
    }

    /// Deletes a revoked certificate for good; an active one is refused (400), as the seed says.
    pub async fn delete_certificate(
        &self,
        account: &AccountId,
        actor: Option<&str>,
        id: &CertificateId,
    ) -> Result<(), AgentTokenError> {
        let mut tx = self.db.begin_write().await?;
        let kid: Option<String> = sqlx::query_scalar(
            "DELETE FROM certificates WHERE account_id = $1 AND id = $2 AND status = 'revoked' RETURNING kid",
        )
        .bind(account.as_str())
        .bind(id.as_str())
        .fetch_optional(&mut *tx)
        .await?;
        let Some(kid) = kid else {
            tx.rollback().await?;
            // Not deleted: unknown (or another account's), or not revoked.
            self.get_certificate(account, id).await?;
            return Err(AgentTokenError::Invalid(ApiError::new(
                ErrorCode::ValidationError,
                "only a revoked certificate can be deleted: revoke it first",
            )));
        };
        sqlx::query("DELETE FROM certificate_jtis WHERE certificate_id = $1")
            .bind(id.as_str())
            .execute(&mut *tx)
            .await?;
        let event = CertificateDeleted {
            certificate_id: id.to_string(),
            kid,
        };
        self.outbox.enqueue(&mut tx, &envelope(account, actor, &event)).await?;
        self.outbox.commit(tx).await?;
        Ok(())
    }

    /// An active, unexpired certificate by its kid, whichever account's: what third parties may
    /// see. Revoked, expired, deleted and unknown kids are all not found.
    pub async fn usable_certificate_by_kid(&self, kid: &CertificateKid) -> Result<Certificate, AgentTokenError> {
        let row: Option<CertificateRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM certificates WHERE kid = $1 AND status = 'active' AND expires_at > $2"
        )))
        .bind(kid.as_str())
        .bind(now_ms())
        .fetch_optional(self.db.pool())
        .await?;
        row.ok_or_else(not_found).and_then(from_row)
    }

    /// The account's active, unexpired certificates as a JWKS (RFC 7517): public members only,
    /// each with its `kid`, `use: sig` and the one `alg` it signs with; newest first.
    pub async fn certificate_jwks(&self, account: &AccountId) -> Result<serde_json::Value, AgentTokenError> {
        let certificates = self.usable_certificates(account, MAX_CERTIFICATES).await?;
        let keys = certificates
            .into_iter()
            .map(|certificate| {
                let mut jwk = serde_json::to_value(&certificate.jwk)
                    .map_err(|_| AgentTokenError::Infra(InfraError::Internal("a JWK does not serialise")))?;
                if let Some(members) = jwk.as_object_mut() {
                    members.insert("kid".to_owned(), certificate.kid.to_string().into());
                    members.insert("use".to_owned(), "sig".into());
                    members.insert("alg".to_owned(), certificate.algorithm.as_str().into());
                }
                Ok(jwk)
            })
            .collect::<Result<Vec<_>, AgentTokenError>>()?;
        Ok(serde_json::json!({ "keys": keys }))
    }
}
