//! A small JWS signer for the certificate stories, on aws-lc-rs directly: it signs with whatever
//! the story says, whatever the header claims (a header naming RS512 over an RS256 key's
//! signature, `alg: none` with no signature, HS256 keyed with the public key), which a JWT
//! library would not let it do. The end-to-end suite signs with PyJWT instead.

use aws_lc_rs::signature as sig;
use base64::{
    Engine as _,
    engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD},
};
use serde_json::Value;

/// How the signature is made, independently of the header's `alg`.
#[derive(Clone, Copy, Debug)]
pub enum SignAs {
    Rs256,
    Rs384,
    Rs512,
    Es256,
    EdDsa,
    /// HMAC-SHA256 keyed with the given text (the public key PEM, in the alg-confusion attack).
    Hs256,
    /// No signature at all.
    Nothing,
}

impl SignAs {
    /// What a certificate of `algorithm` signs as.
    pub fn certificate(algorithm: &str) -> Self {
        match algorithm {
            "RS256" => Self::Rs256,
            "RS384" => Self::Rs384,
            "RS512" => Self::Rs512,
            "ES256" => Self::Es256,
            "EdDSA" => Self::EdDsa,
            other => panic!("no certificate algorithm {other}"),
        }
    }
}

/// The DER inside a PEM.
pub fn der(pem: &str) -> Vec<u8> {
    let body: String = pem.lines().filter(|line| !line.starts_with("-----")).collect();
    STANDARD.decode(body).expect("base64 inside the PEM")
}

/// `header.claims.signature`, the signature made over the first two parts as `sign_as` says with
/// `key` (a PKCS#8 private key PEM, or the HMAC key's text).
pub fn sign(key: &str, sign_as: SignAs, header: &Value, claims: &Value) -> String {
    let message = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    );
    let rng = aws_lc_rs::rand::SystemRandom::new();
    let rsa = |padding: &'static dyn sig::RsaEncoding| {
        let pair = sig::RsaKeyPair::from_pkcs8(&der(key)).expect("an RSA PKCS#8 key");
        let mut signature = vec![0; pair.public_modulus_len()];
        pair.sign(padding, &rng, message.as_bytes(), &mut signature)
            .expect("signs");
        signature
    };
    let signature = match sign_as {
        SignAs::Rs256 => rsa(&sig::RSA_PKCS1_SHA256),
        SignAs::Rs384 => rsa(&sig::RSA_PKCS1_SHA384),
        SignAs::Rs512 => rsa(&sig::RSA_PKCS1_SHA512),
        SignAs::Es256 => sig::EcdsaKeyPair::from_pkcs8(&sig::ECDSA_P256_SHA256_FIXED_SIGNING, &der(key))
            .expect("a P-256 PKCS#8 key")
            .sign(&rng, message.as_bytes())
            .expect("signs")
            .as_ref()
            .to_vec(),
        SignAs::EdDsa => sig::Ed25519KeyPair::from_pkcs8(&der(key))
            .expect("an Ed25519 PKCS#8 key")
            .sign(message.as_bytes())
            .as_ref()
            .to_vec(),
        SignAs::Hs256 => {
            let hmac_key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, key.as_bytes());
            aws_lc_rs::hmac::sign(&hmac_key, message.as_bytes()).as_ref().to_vec()
        }
        SignAs::Nothing => Vec::new(),
    };
    format!("{message}.{}", URL_SAFE_NO_PAD.encode(signature))
}
