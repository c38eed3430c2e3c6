//! Ed25519 signing keys and their schedule.

use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::VerifyingKey;
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use super::{ALGORITHM, TokenError};

/// When a key exists, signs and is published. Unix seconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KeySchedule {
    /// When the key was generated; it is published (in the JWKS) from then on.
    pub created_at: i64,
    /// When the key starts signing. Later than `created_at` on rotation, so that JWKS caches hold the
    /// key before the first token it signs reaches a verifier.
    pub activates_at: i64,
    /// When the key stops signing (its successor's activation), if it has been retired.
    pub retires_at: Option<i64>,
    /// When the key leaves the JWKS: after the last token it signed has expired.
    pub published_until: Option<i64>,
}

impl KeySchedule {
    /// A schedule for a key created at `created_at` that signs from `activates_at`, never retired.
    pub fn new(created_at: i64, activates_at: i64) -> Self {
        Self {
            created_at,
            activates_at,
            retires_at: None,
            published_until: None,
        }
    }

    /// Whether the key signs at `now`.
    pub fn signs_at(&self, now: i64) -> bool {
        self.activates_at <= now && self.retires_at.is_none_or(|retired| now < retired)
    }

    /// Whether the key is in the JWKS at `now`.
    pub fn is_published_at(&self, now: i64) -> bool {
        self.created_at <= now && self.published_until.is_none_or(|until| now < until)
    }
}

/// An Ed25519 key that signs agent tokens, with its key id and schedule.
///
/// The secret half is zeroized on drop (by `ed25519_dalek`) and never printed: `Debug` shows the kid,
/// the public key and the schedule only.
#[derive(Clone)]
pub struct SigningKey {
    kid: String,
    secret: ed25519_dalek::SigningKey,
    public: VerifyingKey,
    /// The base64url JWS header naming this key, encoded once: every token it signs starts with it.
    encoded_header: String,
    /// The schedule; [`KeyRing`](super::KeyRing) rewrites it on rotation.
    pub(super) schedule: KeySchedule,
}

impl SigningKey {
    /// A fresh random key.
    pub fn generate(schedule: KeySchedule) -> Self {
        Self::from_dalek(ed25519_dalek::SigningKey::generate(&mut rand::rng()), schedule)
    }

    /// Rebuilds a stored key from its 32-byte seed (as [`to_secret_bytes`](Self::to_secret_bytes)
    /// returned it). The kid is derived from the public key, so it comes back unchanged.
    pub fn from_secret_bytes(seed: &[u8], schedule: KeySchedule) -> Result<Self, TokenError> {
        let seed: Zeroizing<[u8; ed25519_dalek::SECRET_KEY_LENGTH]> =
            Zeroizing::new(seed.try_into().map_err(|_| TokenError::InvalidSecretKey)?);
        Ok(Self::from_dalek(ed25519_dalek::SigningKey::from_bytes(&seed), schedule))
    }

    /// The 32-byte seed, for storage; zeroized when the returned value is dropped.
    pub fn to_secret_bytes(&self) -> Zeroizing<[u8; ed25519_dalek::SECRET_KEY_LENGTH]> {
        Zeroizing::new(self.secret.to_bytes())
    }

    fn from_dalek(secret: ed25519_dalek::SigningKey, schedule: KeySchedule) -> Self {
        let public = secret.verifying_key();
        let kid = kid_of(&public);
        let header = serde_json::json!({"alg": ALGORITHM, "typ": "JWT", "kid": kid});
        let encoded_header = URL_SAFE_NO_PAD.encode(header.to_string());
        Self {
            kid,
            secret,
            public,
            encoded_header,
            schedule,
        }
    }

    /// The key id: base64url of the first 8 bytes of the SHA-256 of the public key.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The public half.
    pub fn verifying_key(&self) -> &VerifyingKey {
        &self.public
    }

    /// When the key was created, signs, retires and leaves the JWKS.
    pub fn schedule(&self) -> &KeySchedule {
        &self.schedule
    }

    /// The key as a JWK (RFC 8037): public members only.
    pub fn public_jwk(&self) -> serde_json::Value {
        serde_json::json!({
            "kty": "OKP",
            "crv": "Ed25519",
            "x": URL_SAFE_NO_PAD.encode(self.public.as_bytes()),
            "kid": self.kid,
            "use": "sig",
            "alg": ALGORITHM,
        })
    }

    pub(super) fn encoded_header(&self) -> &str {
        &self.encoded_header
    }

    pub(super) fn dalek(&self) -> &ed25519_dalek::SigningKey {
        &self.secret
    }
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKey")
            .field("kid", &self.kid)
            .field("public", &URL_SAFE_NO_PAD.encode(self.public.as_bytes()))
            .field("schedule", &self.schedule)
            .finish_non_exhaustive()
    }
}

/// The kid of a public key: short, stable across restarts, and different for different keys.
pub(super) fn kid_of(public: &VerifyingKey) -> String {
    let digest = Sha256::digest(public.as_bytes());
    URL_SAFE_NO_PAD.encode(&digest[..8])
}

#[cfg(test)]
mod tests;
