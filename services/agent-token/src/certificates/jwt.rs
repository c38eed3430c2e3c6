//! JWT bearer authentication with a certificate (RFC 7523's profile, as a bearer credential): the
//! account signs a short-lived JWT with a certificate's private key and sends it where an API key
//! goes. Checked here, where the certificates are, on every request (the gateway caches nothing of
//! it), so a revocation or an expiry holds from its instant on every door:
//!
//! - the header's `kid` names an active, unexpired certificate, and its `alg` is exactly that
//!   certificate's algorithm (`none`, HMAC and any other are refused);
//! - the signature verifies with the certificate's public key;
//! - `iss` and `sub` are the certificate's account, `aud` is this deployment's public URL;
//! - `exp` is present and at most [`MAX_JWT_LIFETIME_SECS`] after `iat` (after now when there is
//!   no `iat`); `iat` is not in the future; `nbf`, when present, has passed; each with
//!   [`JWT_LEEWAY_SECS`] of clock skew allowed;
//! - `jti` is present (1 to [`MAX_JTI_CHARS`] characters) and used once: it is recorded until the
//!   JWT expires, and a second use is refused.
//!
//! Every refusal is the same `UNAUTHENTICATED`; why is logged at debug level, never the token.

use std::time::Duration;

use latchkey_ids::{AccountId, CertificateId, CertificateKid};
use latchkey_server::InfraError;
use latchkey_storage::{Db, GroupCommit, GroupFailed, StorageError, now_ms, sqlx};
use serde::Deserialize;
use tokio_util::sync::CancellationToken;

use super::Certificate;
use crate::{AgentToken, AgentTokenError};

/// The longest a certificate JWT may live: `exp` − `iat` (or − now).
pub const MAX_JWT_LIFETIME_SECS: u64 = 3600;
/// Clock skew allowed on `exp`, `nbf` and `iat`.
pub const JWT_LEEWAY_SECS: u64 = 30;
/// The longest JWT looked at, in bytes (an RS512 signature alone is 683 characters).
pub const MAX_JWT_BYTES: usize = 8 * 1024;
/// The longest `jti`, in characters.
pub const MAX_JTI_CHARS: usize = 256;
/// How often used `jti`s whose JWT has expired are forgotten.
const JTI_PRUNE_INTERVAL: Duration = Duration::from_secs(60);
/// The most used `jti`s one group commit records.
const JTI_GROUP_MAX: usize = 256;

/// Certificate JWTs' `jti`s waiting to be recorded as used, by group commit.
pub(crate) type UsedJtis = std::sync::Arc<GroupCommit<UsedJti, bool>>;

pub(crate) fn used_jtis() -> UsedJtis {
    std::sync::Arc::new(GroupCommit::new(JTI_GROUP_MAX))
}

/// A certificate JWT's `jti`, to record as used until the JWT can no longer be accepted.
#[derive(Debug)]
pub(crate) struct UsedJti {
    certificate_id: String,
    jti: String,
    remember_until_ms: i64,
}

/// Who a certificate JWT authenticates: the certificate's account, acting through it, on its plan.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CertificatePrincipal {
    pub account_id: AccountId,
    pub certificate_id: CertificateId,
    /// The account's plan, resolved against the deployment's plans.
    pub plan: String,
}

/// Whether `text` has the shape of a compact JWS (three base64url parts), as opposed to an API key.
pub fn looks_like_jwt(text: &str) -> bool {
    text.split('.').count() == 3
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

/// The claims checked here beyond what jsonwebtoken checks (`exp`, `nbf`, `iss`, `sub`, `aud`).
#[derive(Deserialize)]
struct Claims {
    exp: u64,
    #[serde(default)]
    iat: Option<u64>,
    #[serde(default)]
    jti: Option<String>,
}

/// Why a JWT was refused: for the debug log only (so its fields are read by `Debug` alone).
#[derive(Debug)]
#[allow(dead_code, reason = "the fields are for the log, which reads them through Debug")]
enum Refusal {
    NoAudienceConfigured,
    TooLong,
    Malformed,
    NoKid,
    UnknownKid,
    WrongAlgorithm,
    /// What jsonwebtoken found wrong, in a word (its messages may quote claims).
    Invalid(&'static str),
    IssuedInTheFuture,
    LivesTooLong,
    BadJti,
    Replayed,
}

/// A refusal, or a failure of the service itself (storage), which the caller must not mistake for
/// a bad credential.
enum Outcome {
    Refused(Refusal),
    Failed(AgentTokenError),
}

impl From<AgentTokenError> for Outcome {
    fn from(error: AgentTokenError) -> Self {
        Self::Failed(error)
    }
}

impl From<sqlx::Error> for Outcome {
    fn from(error: sqlx::Error) -> Self {
        Self::Failed(error.into())
    }
}

fn now_secs() -> u64 {
    u64::try_from(now_ms() / 1000).unwrap_or_default()
}

/// Records each of `group` as used in one transaction, answering for each whether it was recorded
/// now: not when its `jti` was used before (also earlier in the group) or its certificate is no
/// longer usable. One statement checks the certificate and records, so a revocation that committed
/// meanwhile wins.
async fn record_used_jtis(db: &Db, group: &[UsedJti]) -> Result<Vec<bool>, StorageError> {
    let mut tx = db.begin_write().await?;
    let now = now_ms();
    let mut recorded = Vec::with_capacity(group.len());
    for used in group {
        let rows = sqlx::query(
            "INSERT INTO certificate_jtis (certificate_id, jti, expires_at) SELECT $1, $2, $3 \
             WHERE EXISTS (SELECT 1 FROM certificates WHERE id = $1 AND status = 'active' AND expires_at > $4) \
             ON CONFLICT (certificate_id, jti) DO NOTHING",
        )
        .bind(&used.certificate_id)
        .bind(&used.jti)
        .bind(used.remember_until_ms)
        .bind(now)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        recorded.push(rows == 1);
    }
    tx.commit().await?;
    Ok(recorded)
}

impl AgentToken {
    /// Checks a certificate JWT (see the module) and answers whose it is. Every refusal is
    /// [`AgentTokenError::Unauthenticated`]; only a failure of the service is anything else.
    pub async fn authenticate_certificate_jwt(&self, token: &str) -> Result<CertificatePrincipal, AgentTokenError> {
        match self.check_certificate_jwt(token).await {
            Ok(principal) => Ok(principal),
            Err(Outcome::Refused(reason)) => {
                tracing::debug!(?reason, "certificate JWT refused");
                Err(AgentTokenError::Unauthenticated)
            }
            Err(Outcome::Failed(error)) => Err(error),
        }
    }

    async fn check_certificate_jwt(&self, token: &str) -> Result<CertificatePrincipal, Outcome> {
        let audience = &*self.certificates.audience;
        if audience.is_empty() {
            tracing::warn!("a certificate JWT arrived, but agent-token was given no public URL to expect as `aud`");
            return Err(Outcome::Refused(Refusal::NoAudienceConfigured));
        }
        if token.len() > MAX_JWT_BYTES {
            return Err(Outcome::Refused(Refusal::TooLong));
        }
        let header = jsonwebtoken::decode_header(token).map_err(|_| Outcome::Refused(Refusal::Malformed))?;
        let kid = header.kid.as_deref().ok_or(Outcome::Refused(Refusal::NoKid))?;
        let kid = CertificateKid::parse(kid).map_err(|_| Outcome::Refused(Refusal::UnknownKid))?;
        let certificate = match self.usable_certificate_by_kid(&kid).await {
            Ok(certificate) => certificate,
            Err(AgentTokenError::Invalid(_)) => return Err(Outcome::Refused(Refusal::UnknownKid)),
            Err(error) => return Err(error.into()),
        };
        // The certificate pins the algorithm; the header's is only compared with it.
        if header.alg != certificate.algorithm.jws() {
            return Err(Outcome::Refused(Refusal::WrongAlgorithm));
        }
        let claims = verified_claims(token, &certificate, audience)?;
        let now = now_secs();
        let lifetime_from = match claims.iat {
            Some(iat) if iat > now + JWT_LEEWAY_SECS => return Err(Outcome::Refused(Refusal::IssuedInTheFuture)),
            Some(iat) => iat,
            None => now + JWT_LEEWAY_SECS,
        };
        if claims.exp > lifetime_from.saturating_add(MAX_JWT_LIFETIME_SECS) {
            return Err(Outcome::Refused(Refusal::LivesTooLong));
        }
        let jti = claims
            .jti
            .filter(|jti| !jti.is_empty() && jti.chars().count() <= MAX_JTI_CHARS)
            .ok_or(Outcome::Refused(Refusal::BadJti))?;
        // Accepted until `exp` + leeway: remembered as long. One statement records the jti only
        // while the certificate is still usable, so a revocation that committed meanwhile wins.
        let remember_until_ms = i64::try_from(claims.exp.saturating_add(JWT_LEEWAY_SECS))
            .unwrap_or(i64::MAX / 1000)
            .saturating_mul(1000);
        // Recorded with the JWTs of the same moment (a group commit): one transaction and one
        // commit for all of them, where each on its own would queue for the database's writer.
        let used = UsedJti {
            certificate_id: certificate.id.to_string(),
            jti,
            remember_until_ms,
        };
        let write = |group: Vec<UsedJti>| {
            let db = self.db.clone();
            async move {
                record_used_jtis(&db, &group)
                    .await
                    .map_err(|error| GroupFailed(error.to_string().into()))
            }
        };
        let recorded = self.used_jtis.submit(used, write).await.map_err(|error| {
            tracing::error!(%error, "cannot record a certificate JWT's jti");
            AgentTokenError::Infra(InfraError::Internal("cannot record a certificate JWT's jti"))
        })?;
        if !recorded {
            return Err(Outcome::Refused(Refusal::Replayed));
        }
        let plan = self.account_plan(&certificate.account_id).await?;
        Ok(CertificatePrincipal {
            account_id: certificate.account_id,
            certificate_id: certificate.id,
            plan,
        })
    }

    /// Forgets the used `jti`s of JWTs expired at `now_ms` (their exp plus the leeway passed:
    /// they are refused anyway), answering how many. The task below calls it every minute.
    pub async fn prune_used_jtis(&self, now_ms: i64) -> Result<u64, AgentTokenError> {
        let pruned = sqlx::query("DELETE FROM certificate_jtis WHERE expires_at < $1")
            .bind(now_ms)
            .execute(self.db.pool())
            .await?;
        Ok(pruned.rows_affected())
    }

    /// Prunes used `jti`s at start and then every minute, until `shutdown`.
    pub(crate) async fn prune_used_jtis_periodically(self, shutdown: CancellationToken) {
        let mut interval = tokio::time::interval(JTI_PRUNE_INTERVAL);
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = interval.tick() => {
                    if let Err(error) = self.prune_used_jtis(now_ms()).await {
                        tracing::warn!(%error, "cannot forget the used jtis of expired certificate JWTs; retrying later");
                    }
                }
            }
        }
    }
}

/// The signature and the registered claims, checked by jsonwebtoken against `certificate`.
fn verified_claims(token: &str, certificate: &Certificate, audience: &str) -> Result<Claims, Outcome> {
    let key = certificate.jwk.decoding_key().ok_or_else(|| {
        tracing::error!(certificate = %certificate.id, "a stored certificate's public key does not load");
        Outcome::Failed(AgentTokenError::Infra(latchkey_server::InfraError::Internal(
            "a stored certificate's public key does not load",
        )))
    })?;
    let account = certificate.account_id.as_str();
    let mut validation = jsonwebtoken::Validation::new(certificate.algorithm.jws());
    validation.leeway = JWT_LEEWAY_SECS;
    validation.validate_exp = true;
    validation.validate_nbf = true;
    validation.set_required_spec_claims(&["exp", "iss", "sub", "aud"]);
    validation.set_audience(&[audience]);
    validation.set_issuer(&[account]);
    validation.sub = Some(account.to_owned());
    jsonwebtoken::decode::<Claims>(token, &key, &validation)
        .map(|data| data.claims)
        .map_err(|error| Outcome::Refused(Refusal::Invalid(refusal_word(error.kind()))))
}

fn refusal_word(kind: &jsonwebtoken::errors::ErrorKind) -> &'static str {
    use jsonwebtoken::errors::ErrorKind;
    match kind {
        ErrorKind::InvalidSignature => "signature",
        ErrorKind::ExpiredSignature => "exp",
        ErrorKind::ImmatureSignature => "nbf",
        ErrorKind::InvalidAudience => "aud",
        ErrorKind::InvalidIssuer => "iss",
        ErrorKind::InvalidSubject => "sub",
        ErrorKind::MissingRequiredClaim(_) => "a required claim is missing",
        ErrorKind::InvalidClaimFormat(_) => "a claim is malformed",
        ErrorKind::InvalidAlgorithm | ErrorKind::MissingAlgorithm => "alg",
        _ => "malformed",
    }
}

#[cfg(test)]
mod tests;
