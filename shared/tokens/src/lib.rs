//! Agent tokens: Ed25519-signed JWTs (`alg: EdDSA`, RFC 8037) that any service verifies offline.
//!
//! Domain code on values and an explicit `now` (unix seconds): the issuing service persists keys,
//! and any service that verifies feeds revocations in from the event stream with
//! [`follow_revocations`], the one piece here that does I/O.
//!
//! - [`SigningKey`] / [`KeyRing`]: keys with an activation and retirement schedule; rotation publishes
//!   a key before it signs and keeps a retired key published until its last token has expired.
//! - [`issue`]: a compact JWS built by hand with the cached key (no per-call key parsing).
//! - [`Verifier`]: signature, time, audience, scope and revocation checks against in-memory keys and
//!   a [`RevocationSet`]; a failure names its [`Invalid`] reason.
//! - [`delegate`]: exchange a token's claims for narrower ones for a sub-agent (RFC 8693 `act` chain).
//!
//! Scope patterns are described in [`scope`].

mod authentic_cache;
mod claims;
mod delegation;
mod error;
mod jws;
mod keyring;
mod keys;
mod revocation;
mod revocation_feed;
pub mod scope;
mod verify;

#[cfg(test)]
mod testing;
#[cfg(test)]
mod tests;

pub use claims::{Actor, Claims};
pub use delegation::{DelegationError, DelegationRequest, MAX_CLAIMS_BYTES, MAX_DELEGATION_DEPTH, delegate};
pub use error::TokenError;
pub use jws::issue;
pub use keyring::KeyRing;
pub use keys::{KeySchedule, SigningKey};
pub use revocation::{RevocationSet, Revoked};
pub use revocation_feed::{REVOCATION_HISTORY_SECS, follow_revocations};
pub use verify::{Invalid, Requirements, Verifier};

/// What the fuzz targets (`fuzz/`) call that is not otherwise public. Not an API.
#[doc(hidden)]
pub mod fuzzing {
    pub use super::revocation_feed::apply as apply_revocation_event;
}

/// The only JWS algorithm Latchkey signs or accepts (RFC 8037's name; RFC 9864's `Ed25519` is not
/// yet understood by common libraries).
pub const ALGORITHM: &str = "EdDSA";
/// The audience of a token that names no target service: it is accepted by every audience.
pub const ANY_AUDIENCE: &str = "any";
/// The clock leeway the verifier allows on `nbf` and `exp` unless told otherwise.
pub const DEFAULT_LEEWAY_SECS: i64 = 30;
/// The largest leeway a verifier accepts. Revocation entries and retired keys are kept this long past
/// the expiry of the tokens they concern, so no leeway can let a revoked token back in or turn an
/// expired-but-tolerated token into an unknown-key one.
pub const MAX_LEEWAY_SECS: i64 = 300;

/// The longest token a verifier reads (longer ones are malformed before any decoding) and so the
/// longest [`issue`] signs. Room for the largest claims the issue API accepts (50 scopes of 128 bytes,
/// 500 characters of intent, a 128-byte audience: about 10 KiB of JSON, 14 KiB encoded) and for
/// delegated claims of [`MAX_CLAIMS_BYTES`].
pub const MAX_TOKEN_LEN: usize = 16 * 1024;

/// The longest lifetime of a token, seconds (the API's `ttl` maximum: one day).
pub const MAX_TTL_SECS: i64 = 86_400;

/// A new token id, `tok_` followed by 16 random base32 characters (80 bits): lowercase, no ambiguous
/// letters, like every Latchkey id.
pub fn new_jti() -> String {
    use rand::RngExt;
    const BASE32: &[u8] = b"0123456789abcdefghjkmnpqrstvwxyz";
    let mut rng = rand::rng();
    let random: String = (0..16)
        .map(|_| BASE32[rng.random_range(0..BASE32.len())] as char)
        .collect();
    format!("tok_{random}")
}
