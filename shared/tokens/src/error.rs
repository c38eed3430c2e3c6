//! Errors of issuing tokens and handling keys. (A token that fails verification is not an error of
//! ours but an answer: see [`Invalid`](super::Invalid).)

/// Why a token could not be issued or a key or key set could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    /// No key signs at the requested time: the ring is empty, or its newest key is not active yet.
    #[error("no signing key is active")]
    NoActiveKey,
    /// A stored Ed25519 seed is not 32 bytes long.
    #[error("a stored signing key is not a 32-byte Ed25519 seed")]
    InvalidSecretKey,
    /// A JWKS document could not be used; the message names the problem, never key material.
    #[error("invalid JWKS: {0}")]
    InvalidJwks(String),
    /// The token would be longer than any verifier reads ([`MAX_TOKEN_LEN`](super::MAX_TOKEN_LEN)).
    #[error("the token would exceed {} bytes", super::MAX_TOKEN_LEN)]
    TooLarge,
    /// The claims could not be serialised (not expected for [`Claims`](super::Claims)).
    #[error("could not encode the token claims")]
    Encode(#[from] serde_json::Error),
}
