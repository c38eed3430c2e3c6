//! Key pairs for certificates: the closed set of algorithms, generation through aws-lc-rs (never
//! the `rsa` crate: RUSTSEC-2023-0071), and the encodings a certificate's keys are handed out in:
//! the private key as PKCS#8 PEM (returned once, never stored), the public key as SPKI PEM and as
//! the members of a JWK (RFC 7517/7518/8037).

use aws_lc_rs::{
    encoding::AsDer,
    rsa::{KeyPair as RsaKeyPair, KeySize},
    signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, Ed25519KeyPair, KeyPair as _},
};
use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

/// What a certificate signs with. The name is the JWS `alg` (RFC 7518, RFC 8037), the only one a
/// JWT signed with the certificate may carry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Algorithm {
    /// RSASSA-PKCS1-v1_5 with SHA-256, a 2048-bit key.
    Rs256,
    /// RSASSA-PKCS1-v1_5 with SHA-384, a 3072-bit key.
    Rs384,
    /// RSASSA-PKCS1-v1_5 with SHA-512, a 4096-bit key.
    Rs512,
    /// ECDSA on P-256 with SHA-256.
    Es256,
    /// Ed25519.
    EdDsa,
}

impl Algorithm {
    /// Every algorithm, in the order the documentation lists them.
    pub const ALL: [Algorithm; 5] = [Self::Rs256, Self::Rs384, Self::Rs512, Self::Es256, Self::EdDsa];

    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Rs256 => "RS256",
            Self::Rs384 => "RS384",
            Self::Rs512 => "RS512",
            Self::Es256 => "ES256",
            Self::EdDsa => "EdDSA",
        }
    }

    /// Exactly one of the names above (case matters, as in a JWS header).
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|algorithm| algorithm.as_str() == name)
    }

    /// The algorithm jsonwebtoken verifies with.
    pub(crate) const fn jws(self) -> jsonwebtoken::Algorithm {
        match self {
            Self::Rs256 => jsonwebtoken::Algorithm::RS256,
            Self::Rs384 => jsonwebtoken::Algorithm::RS384,
            Self::Rs512 => jsonwebtoken::Algorithm::RS512,
            Self::Es256 => jsonwebtoken::Algorithm::ES256,
            Self::EdDsa => jsonwebtoken::Algorithm::EdDSA,
        }
    }
}

/// A public key as a JWK's key members: what `/certificates/jwks.json` publishes (with `kid`,
/// `use` and `alg` added) and what a JWT's signature is checked against.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kty")]
pub enum PublicJwk {
    /// Modulus and public exponent, base64url big-endian without leading zeros (RFC 7518 §6.3).
    #[serde(rename = "RSA")]
    Rsa { n: String, e: String },
    /// A P-256 point's coordinates, base64url, 32 bytes each (RFC 7518 §6.2).
    #[serde(rename = "EC")]
    Ec { crv: String, x: String, y: String },
    /// An Ed25519 public key, base64url of its 32 bytes (RFC 8037).
    #[serde(rename = "OKP")]
    Okp { crv: String, x: String },
}

impl PublicJwk {
    /// The key jsonwebtoken verifies with; `None` when the stored members do not decode.
    pub(crate) fn decoding_key(&self) -> Option<jsonwebtoken::DecodingKey> {
        match self {
            Self::Rsa { n, e } => jsonwebtoken::DecodingKey::from_rsa_components(n, e).ok(),
            Self::Ec { x, y, .. } => jsonwebtoken::DecodingKey::from_ec_components(x, y).ok(),
            Self::Okp { x, .. } => jsonwebtoken::DecodingKey::from_ed_components(x).ok(),
        }
    }
}

/// A new key pair, encoded. The private key is wiped when this is dropped.
pub struct GeneratedKey {
    /// PKCS#8 v1 (`-----BEGIN PRIVATE KEY-----`): what every JWT library loads.
    pub private_key_pem: Zeroizing<String>,
    /// SubjectPublicKeyInfo (`-----BEGIN PUBLIC KEY-----`).
    pub public_key_pem: String,
    pub jwk: PublicJwk,
}

impl std::fmt::Debug for GeneratedKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GeneratedKey")
            .field("public_key_pem", &self.public_key_pem)
            .finish_non_exhaustive()
    }
}

/// aws-lc-rs could not make or encode a key (it says no more than that).
#[derive(Debug, thiserror::Error)]
#[error("key generation failed")]
pub struct KeyGenerationFailed;

impl From<aws_lc_rs::error::Unspecified> for KeyGenerationFailed {
    fn from(_: aws_lc_rs::error::Unspecified) -> Self {
        Self
    }
}

/// Generates a key pair for `algorithm`. CPU-bound (an RSA-4096 key takes a good part of a
/// second): call it off the async runtime's threads.
pub fn generate(algorithm: Algorithm) -> Result<GeneratedKey, KeyGenerationFailed> {
    match algorithm {
        Algorithm::Rs256 => rsa(KeySize::Rsa2048),
        Algorithm::Rs384 => rsa(KeySize::Rsa3072),
        Algorithm::Rs512 => rsa(KeySize::Rsa4096),
        Algorithm::Es256 => {
            let pair = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING)?;
            let private = pair.to_pkcs8v1()?;
            let public = pair.public_key();
            // X9.62 uncompressed: 0x04, then x and y of 32 bytes each.
            let point = public.as_ref();
            let (x, y) = match point {
                [0x04, coordinates @ ..] if coordinates.len() == 64 => coordinates.split_at(32),
                _ => return Err(KeyGenerationFailed),
            };
            Ok(GeneratedKey {
                private_key_pem: pem("PRIVATE KEY", private.as_ref()),
                public_key_pem: public_pem(public.as_der()?.as_ref()),
                jwk: PublicJwk::Ec {
                    crv: "P-256".to_owned(),
                    x: URL_SAFE_NO_PAD.encode(x),
                    y: URL_SAFE_NO_PAD.encode(y),
                },
            })
        }
        Algorithm::EdDsa => {
            let pair = Ed25519KeyPair::generate()?;
            let private = pair.to_pkcs8v1()?;
            let public = pair.public_key();
            Ok(GeneratedKey {
                private_key_pem: pem("PRIVATE KEY", private.as_ref()),
                public_key_pem: public_pem(public.as_der()?.as_ref()),
                jwk: PublicJwk::Okp {
                    crv: "Ed25519".to_owned(),
                    x: URL_SAFE_NO_PAD.encode(public.as_ref()),
                },
            })
        }
    }
}

fn rsa(size: KeySize) -> Result<GeneratedKey, KeyGenerationFailed> {
    let pair = RsaKeyPair::generate(size)?;
    let private = pair.as_der()?;
    let public = pair.public_key();
    Ok(GeneratedKey {
        private_key_pem: pem("PRIVATE KEY", private.as_ref()),
        public_key_pem: public_pem(public.as_der()?.as_ref()),
        jwk: PublicJwk::Rsa {
            n: URL_SAFE_NO_PAD.encode(public.modulus().big_endian_without_leading_zero()),
            e: URL_SAFE_NO_PAD.encode(public.exponent().big_endian_without_leading_zero()),
        },
    })
}

/// A public key's `der` (SubjectPublicKeyInfo) as PEM.
fn public_pem(der: &[u8]) -> String {
    String::clone(&pem("PUBLIC KEY", der))
}

/// `der` as PEM (RFC 7468): base64 in lines of 64 between the label's lines, no newline after the
/// last (as the seed shows them); wiped on drop, since it may hold a private key.
fn pem(label: &str, der: &[u8]) -> Zeroizing<String> {
    let encoded = Zeroizing::new(base64::engine::general_purpose::STANDARD.encode(der));
    let mut text = Zeroizing::new(String::with_capacity(encoded.len() + encoded.len() / 64 + 64));
    text.push_str(&format!("-----BEGIN {label}-----\n"));
    for line in encoded.as_bytes().chunks(64) {
        // Base64 is ASCII, so every chunk is text.
        text.push_str(std::str::from_utf8(line).unwrap_or_default());
        text.push('\n');
    }
    text.push_str(&format!("-----END {label}-----"));
    text
}

#[cfg(test)]
mod tests;
