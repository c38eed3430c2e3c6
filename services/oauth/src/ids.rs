//! Random identifiers and secrets.

use rand::RngExt;
use sha2::{Digest, Sha256};

/// A new id: `prefix_` and 16 characters of a lowercase base32 alphabet (as every Latchkey id).
pub(crate) fn new_id(prefix: &str) -> String {
    const BASE32: &[u8] = b"0123456789abcdefghjkmnpqrstvwxyz";
    let mut rng = rand::rng();
    let suffix: String = (0..16)
        .map(|_| BASE32[rng.random_range(0..BASE32.len())] as char)
        .collect();
    format!("{prefix}_{suffix}")
}

/// The SHA-256 of `text`, hex: how a session's state is looked up without being stored.
pub(crate) fn digest(text: &str) -> String {
    hex::encode(Sha256::digest(text.as_bytes()))
}
