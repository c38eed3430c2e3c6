//! The compact JWS form (RFC 7515) of agent tokens, written and split by hand: the signing key is
//! cached and its header pre-encoded, so issuing costs one JSON encoding and one signature.

use std::borrow::Cow;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::Signer;
use serde::Deserialize;

use super::{Claims, KeyRing, MAX_TOKEN_LEN, TokenError};

/// An Ed25519 signature's 64 bytes in unpadded base64url.
const SIGNATURE_CHARS: usize = 86;

/// Signs `claims` with the key of `ring` that is active at `now`, as a compact JWS whose header is
/// `{"alg":"EdDSA","typ":"JWT","kid":…}`. The claims are signed as given: the caller sets their times
/// and a fresh [`jti`](super::new_jti). A token longer than a verifier reads is refused
/// ([`TokenError::TooLarge`]), never signed.
pub fn issue(ring: &KeyRing, claims: &Claims, now: i64) -> Result<String, TokenError> {
    let key = ring.active_signer(now).ok_or(TokenError::NoActiveKey)?;
    let payload = serde_json::to_vec(claims)?;
    let header = key.encoded_header();
    // Unpadded base64url: 4 characters per 3 bytes, and 2 or 3 for a remainder of 1 or 2.
    let length = header.len() + 1 + (payload.len() * 4).div_ceil(3) + 1 + SIGNATURE_CHARS;
    if length > MAX_TOKEN_LEN {
        return Err(TokenError::TooLarge);
    }
    let mut token = String::with_capacity(length);
    token.push_str(header);
    token.push('.');
    URL_SAFE_NO_PAD.encode_string(&payload, &mut token);
    let signature = key.dalek().sign(token.as_bytes());
    token.push('.');
    URL_SAFE_NO_PAD.encode_string(signature.to_bytes(), &mut token);
    Ok(token)
}

/// The three parts of a compact JWS, still encoded.
pub(super) struct Compact<'t> {
    /// `header.payload`: the bytes the signature covers.
    pub signing_input: &'t str,
    pub header: &'t str,
    pub payload: &'t str,
    pub signature: &'t str,
}

impl<'t> Compact<'t> {
    /// Splits a token into exactly three dot-separated parts, or `None`.
    pub fn split(token: &'t str) -> Option<Self> {
        let (signing_input, signature) = token.rsplit_once('.')?;
        let (header, payload) = signing_input.split_once('.')?;
        if payload.contains('.') {
            return None;
        }
        Some(Self {
            signing_input,
            header,
            payload,
            signature,
        })
    }
}

/// The JOSE header members the verifier looks at.
#[derive(Deserialize)]
pub(super) struct Header<'h> {
    #[serde(borrow)]
    pub alg: Cow<'h, str>,
    #[serde(borrow, default)]
    pub kid: Option<Cow<'h, str>>,
    /// RFC 7515 §4.1.11: extensions the verifier must understand. Latchkey understands none, so a
    /// header that has any (such as RFC 7797's unencoded payload) is refused.
    #[serde(default)]
    pub crit: Option<serde::de::IgnoredAny>,
}

/// Decodes base64url without padding, refusing non-canonical encodings (no trailing bits), so one
/// signature has exactly one textual form.
pub(super) fn decode_part(part: &str) -> Option<Vec<u8>> {
    URL_SAFE_NO_PAD.decode(part).ok()
}

/// Decodes the signature part into its 64 bytes.
pub(super) fn decode_signature(part: &str) -> Option<ed25519_dalek::Signature> {
    // Anything else is not an Ed25519 signature.
    if part.len() != SIGNATURE_CHARS {
        return None;
    }
    let mut bytes = [0u8; 66];
    let written = URL_SAFE_NO_PAD.decode_slice(part, &mut bytes).ok()?;
    let bytes: &[u8; ed25519_dalek::SIGNATURE_LENGTH] = bytes[..written].try_into().ok()?;
    Some(ed25519_dalek::Signature::from_bytes(bytes))
}

#[cfg(test)]
mod tests;
