//! Offline verification of agent tokens.

use std::collections::HashMap;
use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::VerifyingKey;
use serde::{Deserialize, Serialize};

use super::authentic_cache::{self, AuthenticCache};
use super::jws::{Compact, Header, decode_part, decode_signature};
use super::{
    ALGORITHM, ANY_AUDIENCE, Claims, DEFAULT_LEEWAY_SECS, KeyRing, MAX_LEEWAY_SECS, MAX_TOKEN_LEN, RevocationSet,
    Revoked,
};
use super::{TokenError, scope};

/// Why a token is not valid: a machine-readable reason, serialised in snake_case.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, thiserror::Error)]
#[serde(rename_all = "snake_case")]
pub enum Invalid {
    /// Not a compact JWS with a JSON header and claims.
    #[error("the token is malformed")]
    Malformed,
    /// The header names an algorithm other than EdDSA, or one the named key is not pinned to.
    #[error("the token's algorithm is not supported")]
    UnsupportedAlgorithm,
    /// The header's kid names no published key.
    #[error("the token's signing key is unknown")]
    UnknownKey,
    /// The signature does not verify with the named key.
    #[error("the token's signature is invalid")]
    BadSignature,
    /// Past `exp` (beyond the leeway).
    #[error("the token has expired")]
    Expired,
    /// Before `nbf` (beyond the leeway).
    #[error("the token is not valid yet")]
    NotYetValid,
    /// Issued for another service.
    #[error("the token is for another audience")]
    WrongAudience,
    /// Lacks a required scope.
    #[error("the token lacks a required scope")]
    InsufficientScope,
    /// The token, or one it was delegated from, was revoked.
    #[error("the token has been revoked")]
    TokenRevoked,
    /// Its agent, or an agent that delegated it, was revoked.
    #[error("the token's agent has been revoked")]
    AgentRevoked,
}

impl Invalid {
    /// The reason as it appears on the wire (`bad_signature`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Malformed => "malformed",
            Self::UnsupportedAlgorithm => "unsupported_algorithm",
            Self::UnknownKey => "unknown_key",
            Self::BadSignature => "bad_signature",
            Self::Expired => "expired",
            Self::NotYetValid => "not_yet_valid",
            Self::WrongAudience => "wrong_audience",
            Self::InsufficientScope => "insufficient_scope",
            Self::TokenRevoked => "token_revoked",
            Self::AgentRevoked => "agent_revoked",
        }
    }
}

/// What the caller of [`Verifier::verify`] requires beyond a genuine, current, unrevoked token.
#[derive(Clone, Copy, Debug, Default)]
pub struct Requirements<'a> {
    /// The service the token must be for. A token for [`ANY_AUDIENCE`] is for every service; `None`
    /// accepts any audience.
    pub audience: Option<&'a str>,
    /// Scopes (or patterns) the token's scope must cover, per [`scope`](super::scope).
    pub scope: &'a [String],
}

/// A published key, pinned to the one algorithm it may verify.
#[derive(Clone, Debug, PartialEq, Eq)]
struct PublishedKey {
    key: VerifyingKey,
    alg: &'static str,
}

/// Verifies agent tokens with no I/O: published keys by kid, a clock leeway and a shared
/// [`RevocationSet`]. Immutable apart from the revocations (and the cache of authentic tokens, when
/// one is asked for): on key rotation, build a new one.
#[derive(Clone, Debug)]
pub struct Verifier {
    keys: HashMap<String, PublishedKey>,
    leeway: i64,
    revocations: Arc<RevocationSet>,
    /// Tokens already found authentic; shared by clones.
    pub(crate) authentic: Option<Arc<AuthenticCache>>,
}

impl Verifier {
    /// A verifier of the keys `ring` publishes at `now`.
    pub fn from_key_ring(ring: &KeyRing, now: i64, revocations: Arc<RevocationSet>) -> Self {
        let keys = ring
            .published(now)
            .map(|key| {
                (
                    key.kid().to_owned(),
                    PublishedKey {
                        key: *key.verifying_key(),
                        alg: ALGORITHM,
                    },
                )
            })
            .collect();
        Self {
            keys,
            leeway: DEFAULT_LEEWAY_SECS,
            revocations,
            authentic: None,
        }
    }

    /// A verifier of the Ed25519 keys of a JWKS document (`{"keys": [...]}`). Keys of other types or
    /// for other uses or algorithms are skipped; an Ed25519 key without a kid or with a bad `x` is an
    /// error.
    pub fn from_jwks(jwks: &serde_json::Value, revocations: Arc<RevocationSet>) -> Result<Self, TokenError> {
        let invalid = |what: &str| TokenError::InvalidJwks(what.to_owned());
        let entries = jwks
            .get("keys")
            .and_then(|keys| keys.as_array())
            .ok_or_else(|| invalid("no keys array"))?;
        let mut keys = HashMap::new();
        for jwk in entries {
            let member = |name: &str| jwk.get(name).and_then(|value| value.as_str());
            let usable = member("kty") == Some("OKP")
                && member("crv") == Some("Ed25519")
                && member("use").is_none_or(|usage| usage == "sig")
                && member("alg").is_none_or(|alg| alg == ALGORITHM);
            if !usable {
                continue;
            }
            let kid = member("kid").ok_or_else(|| invalid("an Ed25519 key has no kid"))?;
            let key = member("x")
                .and_then(|x| URL_SAFE_NO_PAD.decode(x).ok())
                .and_then(|x| <[u8; 32]>::try_from(x.as_slice()).ok())
                .and_then(|x| VerifyingKey::from_bytes(&x).ok())
                .ok_or_else(|| TokenError::InvalidJwks(format!("key {kid:?}: x is not an Ed25519 public key")))?;
            keys.insert(kid.to_owned(), PublishedKey { key, alg: ALGORITHM });
        }
        Ok(Self {
            keys,
            leeway: DEFAULT_LEEWAY_SECS,
            revocations,
            authentic: None,
        })
    }

    /// The same verifier with a clock leeway of `seconds` on `nbf` and `exp`, clamped to
    /// 0..=[`MAX_LEEWAY_SECS`] (revocation entries are kept that long past expiry, no longer).
    pub fn with_leeway(mut self, seconds: i64) -> Self {
        self.leeway = seconds.clamp(0, MAX_LEEWAY_SECS);
        self
    }

    /// The same verifier remembering up to `entries` tokens it found authentic, so a token presented
    /// again costs a SHA-256 and a map lookup instead of an Ed25519 verification. Every other check
    /// (time, audience, scope, revocation) still runs on every call. 0 means no cache.
    pub fn with_cache(mut self, entries: usize) -> Self {
        self.authentic = (entries > 0).then(|| Arc::new(AuthenticCache::new(entries)));
        self
    }

    /// The clock leeway in seconds.
    pub fn leeway(&self) -> i64 {
        self.leeway
    }

    /// Whether `other` trusts exactly the keys this one does (same kids, keys and algorithms).
    pub fn same_keys(&self, other: &Verifier) -> bool {
        self.keys == other.keys
    }

    /// The kids this verifier knows.
    pub fn kids(&self) -> impl Iterator<Item = &str> {
        self.keys.keys().map(String::as_str)
    }

    /// The revocation set it checks (to feed revocation events into).
    pub fn revocations(&self) -> &Arc<RevocationSet> {
        &self.revocations
    }

    /// Verifies `token` at `now`: its form, algorithm, key and signature (`verify_strict`), then its
    /// time window, audience and scope against `requirements`, then revocation. Answers the claims,
    /// or the first reason the token fails.
    pub fn verify(&self, token: &str, requirements: &Requirements<'_>, now: i64) -> Result<Claims, Invalid> {
        let Some(cache) = &self.authentic else {
            let claims = self.authentic_claims(token)?;
            self.check(&claims, requirements, now)?;
            return Ok(claims);
        };
        if token.len() > MAX_TOKEN_LEN {
            return Err(Invalid::Malformed);
        }
        let digest = authentic_cache::digest(token);
        let claims = match cache.get(&digest) {
            Some(claims) => claims,
            None => {
                let claims = Arc::new(self.authentic_claims(token)?);
                cache.insert(digest, claims.clone(), now - self.leeway);
                claims
            }
        };
        self.check(&claims, requirements, now)?;
        Ok(Claims::clone(&claims))
    }

    /// The claims of a token signed by a published key, whatever its times, audience, scope or
    /// revocation say: what revocation needs to know whose token it is.
    pub fn claims_of_signed(&self, token: &str) -> Option<Claims> {
        self.authentic_claims(token).ok()
    }

    /// Parses `token` and checks its signature with the key it names; nothing else.
    fn authentic_claims(&self, token: &str) -> Result<Claims, Invalid> {
        if token.len() > MAX_TOKEN_LEN {
            return Err(Invalid::Malformed);
        }
        let parts = Compact::split(token).ok_or(Invalid::Malformed)?;
        let header_json = decode_part(parts.header).ok_or(Invalid::Malformed)?;
        // From text, not bytes: serde_json skips members it ignores without checking their UTF-8,
        // and a header or payload that is not UTF-8 JSON is no JWS (RFC 7515 §5.2).
        let header_json = std::str::from_utf8(&header_json).map_err(|_| Invalid::Malformed)?;
        let header: Header<'_> = serde_json::from_str(header_json).map_err(|_| Invalid::Malformed)?;
        if header.crit.is_some() {
            return Err(Invalid::Malformed);
        }
        if header.alg != ALGORITHM {
            return Err(Invalid::UnsupportedAlgorithm);
        }
        let published = header
            .kid
            .as_deref()
            .and_then(|kid| self.keys.get(kid))
            .ok_or(Invalid::UnknownKey)?;
        // The key's pinned algorithm decides, not the header (today both can only be EdDSA).
        if header.alg != published.alg {
            return Err(Invalid::UnsupportedAlgorithm);
        }
        let signature = decode_signature(parts.signature).ok_or(Invalid::Malformed)?;
        published
            .key
            .verify_strict(parts.signing_input.as_bytes(), &signature)
            .map_err(|_| Invalid::BadSignature)?;

        let payload = decode_part(parts.payload).ok_or(Invalid::Malformed)?;
        let payload = std::str::from_utf8(&payload).map_err(|_| Invalid::Malformed)?;
        serde_json::from_str(payload).map_err(|_| Invalid::Malformed)
    }

    /// The checks on authentic claims, in the order their reasons are reported.
    fn check(&self, claims: &Claims, requirements: &Requirements<'_>, now: i64) -> Result<(), Invalid> {
        if now + self.leeway < claims.nbf {
            return Err(Invalid::NotYetValid);
        }
        if now >= claims.exp.saturating_add(self.leeway) {
            return Err(Invalid::Expired);
        }
        if let Some(audience) = requirements.audience
            && claims.aud != ANY_AUDIENCE
            && claims.aud != audience
        {
            return Err(Invalid::WrongAudience);
        }
        if scope::first_uncovered(&claims.scope, requirements.scope).is_some() {
            return Err(Invalid::InsufficientScope);
        }
        match self.revocations.revoked(claims) {
            Some(Revoked::Token) => Err(Invalid::TokenRevoked),
            Some(Revoked::Agent) => Err(Invalid::AgentRevoked),
            None => Ok(()),
        }
    }
}
