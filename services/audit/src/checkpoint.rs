//! Signed checkpoints: the audit service's Ed25519 statement that an account's chain had `hash` at
//! `seq` at `time_ms`. A verifier that kept one detects a history rewritten after it, even when every
//! hash was recomputed. Needs no database: the offline verifier uses it too.

use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD};
use ed25519_dalek::{Signer as _, Verifier as _};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::chain::write_canonical;

/// What precedes the canonical JSON in every signing input. Its newline keeps a checkpoint
/// signature from ever being a valid JWS signature (a JWS signing input has no newline).
pub const SIGNING_CONTEXT: &[u8] = b"latchkey-audit-checkpoint/v1\n";

/// Every checkpoint key's kid starts with this.
pub const KID_PREFIX: &str = "audit-";

/// A signed chain head.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    pub account_id: String,
    pub seq: i64,
    pub hash: String,
    pub time_ms: i64,
    pub kid: String,
    /// Ed25519 over [`Checkpoint::signing_input`], base64url without padding.
    pub signature: String,
}

/// Why a checkpoint could not be trusted.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CheckpointError {
    #[error("no key {0:?} among the published checkpoint keys")]
    UnknownKey(String),
    #[error("the checkpoint key {0:?} is not an Ed25519 public key")]
    BadKey(String),
    #[error("the signature does not match the checkpoint")]
    BadSignature,
}

impl Checkpoint {
    /// The bytes signed: [`SIGNING_CONTEXT`] then the RFC 8785 JSON of
    /// `{"account", "hash", "seq", "time_ms"}`.
    pub fn signing_input(account_id: &str, seq: i64, hash: &str, time_ms: i64) -> Vec<u8> {
        let statement = serde_json::json!({
            "account": account_id,
            "seq": seq,
            "hash": hash,
            "time_ms": time_ms,
        });
        let mut out = SIGNING_CONTEXT.to_vec();
        write_canonical(&statement, &mut out);
        out
    }

    /// Checks the signature with the matching key of `keys`: JWKs (`kty` OKP, `crv` Ed25519, `x`,
    /// `kid`), e.g. the `keys` of the deployment's checkpoint key set
    /// (`GET /v1/audit/checkpoints/jwks.json`).
    pub fn verify_signature(&self, keys: &[serde_json::Value]) -> Result<(), CheckpointError> {
        let jwk = keys
            .iter()
            .find(|jwk| jwk.get("kid").and_then(|kid| kid.as_str()) == Some(self.kid.as_str()))
            .ok_or_else(|| CheckpointError::UnknownKey(self.kid.clone()))?;
        let member = |name: &str| jwk.get(name).and_then(|value| value.as_str());
        let key = (member("kty") == Some("OKP") && member("crv") == Some("Ed25519"))
            .then(|| member("x"))
            .flatten()
            .and_then(|x| URL_SAFE_NO_PAD.decode(x).ok())
            .and_then(|x| <[u8; 32]>::try_from(x.as_slice()).ok())
            .and_then(|x| ed25519_dalek::VerifyingKey::from_bytes(&x).ok())
            .ok_or_else(|| CheckpointError::BadKey(self.kid.clone()))?;
        let signature = URL_SAFE_NO_PAD
            .decode(&self.signature)
            .ok()
            .and_then(|bytes| ed25519_dalek::Signature::from_slice(&bytes).ok())
            .ok_or(CheckpointError::BadSignature)?;
        let input = Self::signing_input(&self.account_id, self.seq, &self.hash, self.time_ms);
        key.verify(&input, &signature)
            .map_err(|_| CheckpointError::BadSignature)
    }
}

/// The service's checkpoint signing key. Its secret half is never printed.
pub struct CheckpointKey {
    kid: String,
    key: ed25519_dalek::SigningKey,
}

impl std::fmt::Debug for CheckpointKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CheckpointKey")
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

impl CheckpointKey {
    pub fn generate() -> Self {
        Self::from_dalek(ed25519_dalek::SigningKey::generate(&mut rand::rng()))
    }

    /// The key whose 32-byte seed this is.
    pub fn from_seed(seed: &[u8]) -> Option<Self> {
        let seed: [u8; 32] = seed.try_into().ok()?;
        Some(Self::from_dalek(ed25519_dalek::SigningKey::from_bytes(&seed)))
    }

    fn from_dalek(key: ed25519_dalek::SigningKey) -> Self {
        let digest = Sha256::digest(key.verifying_key().as_bytes());
        let kid = format!("{KID_PREFIX}{}", URL_SAFE_NO_PAD.encode(&digest[..8]));
        Self { kid, key }
    }

    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The secret seed, to seal in the vault; wiped when dropped.
    pub fn seed(&self) -> Zeroizing<[u8; 32]> {
        Zeroizing::new(self.key.to_bytes())
    }

    /// The public JWK (RFC 8037).
    pub fn public_jwk(&self) -> serde_json::Value {
        serde_json::json!({
            "kty": "OKP",
            "crv": "Ed25519",
            "x": URL_SAFE_NO_PAD.encode(self.key.verifying_key().as_bytes()),
            "kid": self.kid,
            "use": "sig",
            "alg": "EdDSA",
        })
    }

    /// Signs the head `(seq, hash)` of `account_id`'s chain as of `time_ms`.
    pub fn sign(&self, account_id: &str, seq: i64, hash: &str, time_ms: i64) -> Checkpoint {
        let input = Checkpoint::signing_input(account_id, seq, hash, time_ms);
        Checkpoint {
            account_id: account_id.to_owned(),
            seq,
            hash: hash.to_owned(),
            time_ms,
            kid: self.kid.clone(),
            signature: URL_SAFE_NO_PAD.encode(self.key.sign(&input).to_bytes()),
        }
    }
}

#[cfg(test)]
mod tests;
