//! The credentials Latchkey hands out: account API keys, agent secret keys and service API keys
//! (ids come from `latchkey_ids`), and console session tokens. Each is a random secret behind a
//! recognisable prefix, so scanners can spot a leaked one and the gateway can tell the kinds apart
//! before any lookup; only its SHA-256 is stored, and a presented secret is compared with it in
//! constant time. Keys are 32 base62 characters (~190 bits); a console session token is 32 bytes
//! from the operating system's generator, base64url (256 bits).

use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD};
use rand::{RngExt, TryRng as _, rngs::SysRng};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// The prefix of every account API key.
pub const API_KEY_PREFIX: &str = "lk_live_";
/// The prefix of every agent secret key.
pub const AGENT_SECRET_PREFIX: &str = "sk_live_";
/// The prefix of every service API key (the directory's; valid only on `/api/service/*`).
pub const SERVICE_KEY_PREFIX: &str = "lk_svc_";
/// The prefix of every console session token (the web console's cookie; docs/console.md).
pub const CONSOLE_SESSION_PREFIX: &str = "lk_cs_";
const SECRET_LEN: usize = 32;
/// Random bytes in a console session token.
const CONSOLE_SESSION_BYTES: usize = 32;
/// Characters after the prefix of a console session token: 32 bytes in unpadded base64url.
const CONSOLE_SESSION_CHARS: usize = (CONSOLE_SESSION_BYTES * 4).div_ceil(3);
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

/// A new console session token: `lk_cs_` and 32 bytes of the operating system's random generator in
/// unpadded base64url (43 characters). `None` when the generator fails, which the caller must treat
/// as a failure of the service: no weaker source stands in for it.
pub fn new_console_session_token() -> Option<String> {
    let mut bytes = [0u8; CONSOLE_SESSION_BYTES];
    SysRng.try_fill_bytes(&mut bytes).ok()?;
    Some(format!("{CONSOLE_SESSION_PREFIX}{}", URL_SAFE_NO_PAD.encode(bytes)))
}

/// Whether `token` has the shape of a console session token (checked before any lookup): the
/// prefix, then exactly 43 base64url characters. Anything longer, with whitespace or padding, is not.
pub fn looks_like_console_session_token(token: &str) -> bool {
    token.strip_prefix(CONSOLE_SESSION_PREFIX).is_some_and(|rest| {
        rest.len() == CONSOLE_SESSION_CHARS
            && rest
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    })
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
