//! Fixtures shared by the token tests.

use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::Signer;

use super::{Claims, KeyRing, Requirements, RevocationSet, Verifier, issue, new_jti};

/// The fixed "current time" of the tests (2026-07-01T14:00:00Z).
pub const NOW: i64 = 1_782_914_400;
/// The lifetime of [`claims`]: the API's default ttl.
pub const TTL: i64 = 300;

/// Typical claims of a token issued at [`NOW`] for five minutes.
pub fn claims() -> Claims {
    Claims {
        iss: "https://latchkey.test".into(),
        sub: "agent_a1b2c3d4e5f6".into(),
        aud: "billing".into(),
        scope: vec!["secrets.read".into(), "db.*".into()],
        exp: NOW + TTL,
        iat: NOW,
        nbf: NOW,
        jti: new_jti(),
        account: "acct_7m2k".into(),
        intent: Some("nightly invoice run".into()),
        act: None,
    }
}

/// A ring with one active key, a verifier of its keys with an empty revocation set, and that set.
pub struct Fixture {
    pub ring: KeyRing,
    pub verifier: Verifier,
    pub revocations: Arc<RevocationSet>,
}

impl Fixture {
    pub fn new() -> Self {
        let ring = KeyRing::with_new_key(NOW);
        let revocations = Arc::new(RevocationSet::new());
        let verifier = Verifier::from_key_ring(&ring, NOW, Arc::clone(&revocations));
        Self {
            ring,
            verifier,
            revocations,
        }
    }

    /// `claims` signed by the ring's active key.
    pub fn sign(&self, claims: &Claims) -> String {
        issue(&self.ring, claims, NOW).expect("the fixture ring has an active key")
    }
}

/// base64url without padding, as JWS uses it.
pub fn b64(bytes: impl AsRef<[u8]>) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// A token with any header, signed by any Ed25519 key: what a forger can produce.
pub fn forge(header: serde_json::Value, claims: &Claims, key: &ed25519_dalek::SigningKey) -> String {
    let signing_input = format!(
        "{}.{}",
        b64(header.to_string()),
        b64(serde_json::to_vec(claims).expect("json"))
    );
    format!("{signing_input}.{}", b64(key.sign(signing_input.as_bytes()).to_bytes()))
}

/// No audience and no scope required.
pub fn no_requirements() -> Requirements<'static> {
    Requirements::default()
}
