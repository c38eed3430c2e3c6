//! Revoking one token: only a genuine token of the caller's account, recorded as a `token.revoked`
//! event that every verifier applies within a second (and this instance at once).

use latchkey_errors::{ApiError, FieldError};
use latchkey_events::{Envelope, catalogue::TokenRevoked};
use latchkey_ids::AccountId;
use latchkey_server::InfraError;

use crate::{
    AgentToken, AgentTokenError, EVENT_SOURCE,
    tokens::{Invalid, Requirements},
};

/// A revoked token's id and expiry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RevokedToken {
    pub jti: String,
    pub expires_at: i64,
}

impl AgentToken {
    /// Revokes `token`, one of `account`'s. Revoking a revoked token changes nothing.
    pub async fn revoke_token(
        &self,
        account: &AccountId,
        actor: Option<&str>,
        token: &str,
    ) -> Result<RevokedToken, AgentTokenError> {
        let claims = match self.verification.check_signature(token) {
            Some(Ok(claims)) => claims,
            Some(Err(Invalid::TokenRevoked | Invalid::AgentRevoked | Invalid::Expired)) => {
                // Nothing left to do; say so without revealing whose token it is.
                let claims = self
                    .verification
                    .unverified_claims(token)
                    .ok_or(AgentTokenError::TokenNotFound)?;
                if claims.account != account.as_str() {
                    return Err(AgentTokenError::TokenNotFound);
                }
                return Ok(RevokedToken {
                    jti: claims.jti,
                    expires_at: claims.exp,
                });
            }
            Some(Err(reason)) => {
                let error = FieldError::new("token", format!("is not a valid Latchkey token ({})", reason.as_str()));
                return Err(AgentTokenError::Invalid(ApiError::validation(vec![error])));
            }
            None => return Err(InfraError::Unavailable("token verification").into()),
        };
        if claims.account != account.as_str() {
            return Err(AgentTokenError::TokenNotFound);
        }
        let event = TokenRevoked {
            jti: claims.jti.clone(),
            agent_id: claims.sub.clone(),
            expires_at: claims.exp,
        };
        let mut tx = self.db.begin_write().await?;
        self.outbox
            .enqueue(&mut tx, &Envelope::new(EVENT_SOURCE, account.as_str(), actor, &event))
            .await?;
        self.outbox.commit(tx).await?;
        self.verification.revoke_token_now(&claims.jti, claims.exp);
        Ok(RevokedToken {
            jti: claims.jti,
            expires_at: claims.exp,
        })
    }

    /// Verifies a token as any relying service would, with no database lookup. `None` while the
    /// revocation set is still catching up with the event stream.
    pub fn verify_token(&self, token: &str, requirements: &Requirements<'_>) -> Option<crate::verification::Verdict> {
        self.verification.verify(token, requirements)
    }

    /// Whether verification is ready (its revocation set has caught up).
    pub fn verification_ready(&self) -> bool {
        self.verification.is_ready()
    }
}
