//! The credentials Latchkey hands out: account API keys, agent secret keys and service API keys
//! (ids come from `latchkey_ids`). Each is 32 base62 characters (~190 bits) behind a recognisable
//! prefix, so scanners can spot a leaked one and the gateway can tell the kinds apart before any
//! lookup; only its SHA-256 is stored, and a presented secret is compared with it in constant time.

use rand::RngExt;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// The prefix of every account API key.
pub const API_KEY_PREFIX: &str = "lk_live_";
/// The prefix of every agent secret key.
pub const AGENT_SECRET_PREFIX: &str = "sk_live_";
/// The prefix of every service API key (the directory's; valid only on `/api/service/*`).
pub const SERVICE_KEY_PREFIX: &str = "lk_svc_";
const SECRET_LEN: usize = 32;
const BASE62: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

fn random_from(alphabet: &[u8], len: usize) -> String {
    let mut rng = rand::rng();
    (0..len)
        .map(|_| alphabet[rng.random_range(0..alphabet.len())] as char)
        .collect()
}

/// A new secret: `prefix` followed by 32 base62 characters.
pub fn new_secret(prefix: &str) -> String {
    format!("{prefix}{}", random_from(BASE62, SECRET_LEN))
}

/// A new API key secret, `lk_live_` followed by 32 base62 characters.
pub fn new_api_key_secret() -> String {
    new_secret(API_KEY_PREFIX)
}

/// Whether `secret` has the shape of a secret with `prefix` (checked before any lookup).
pub fn looks_like_secret(secret: &str, prefix: &str) -> bool {
    secret
        .strip_prefix(prefix)
        .is_some_and(|rest| rest.len() == SECRET_LEN && rest.bytes().all(|b| b.is_ascii_alphanumeric()))
}

/// Whether `secret` has the shape of a service API key (checked before any lookup).
pub fn looks_like_service_key(secret: &str) -> bool {
    looks_like_secret(secret, SERVICE_KEY_PREFIX)
}

/// Whether `secret` has the shape of an API key (checked before any lookup).
pub fn looks_like_api_key(secret: &str) -> bool {
    looks_like_secret(secret, API_KEY_PREFIX)
}

/// SHA-256 of the secret, lowercase hex: the stored form and the cache key.
pub fn secret_hash(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// Constant-time equality of two stored-form hashes.
pub fn hashes_match(a: &str, b: &str) -> bool {
    a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

/// The last four characters, shown so a person can tell keys apart.
pub fn last4(secret: &str) -> String {
    secret[secret.len().saturating_sub(4)..].to_owned()
}

#[cfg(test)]
mod tests;
