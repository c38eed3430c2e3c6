//! Each algorithm's key pair: the private key (PKCS#8 PEM) loads back into aws-lc-rs and signs a
//! JWT that jsonwebtoken accepts with the public JWK alone, and the public PEM holds that same key.

use aws_lc_rs::signature as sig;
use base64::{Engine as _, engine::general_purpose::STANDARD};

use super::*;

/// The DER inside a PEM of `label`.
fn der_of(pem: &str, label: &str) -> Vec<u8> {
    let body = pem
        .strip_prefix(&format!("-----BEGIN {label}-----\n"))
        .and_then(|rest| rest.strip_suffix(&format!("\n-----END {label}-----")))
        .unwrap_or_else(|| panic!("not a {label} PEM: {pem}"));
    assert!(body.lines().all(|line| line.len() <= 64), "lines of at most 64");
    STANDARD.decode(body.replace('\n', "")).expect("base64")
}

/// A JWT over `{"sub":"x"}` signed with the PKCS#8 private key for `algorithm`.
fn signed_jwt(algorithm: Algorithm, pkcs8: &[u8]) -> String {
    let header = URL_SAFE_NO_PAD.encode(format!(r#"{{"alg":"{}","typ":"JWT"}}"#, algorithm.as_str()));
    let claims = URL_SAFE_NO_PAD.encode(r#"{"sub":"x","exp":9999999999}"#);
    let message = format!("{header}.{claims}");
    let rng = aws_lc_rs::rand::SystemRandom::new();
    let signature = match algorithm {
        Algorithm::Rs256 | Algorithm::Rs384 | Algorithm::Rs512 => {
            let pair = sig::RsaKeyPair::from_pkcs8(pkcs8).expect("an RSA PKCS#8 key");
            let padding = match algorithm {
                Algorithm::Rs256 => &sig::RSA_PKCS1_SHA256,
                Algorithm::Rs384 => &sig::RSA_PKCS1_SHA384,
                _ => &sig::RSA_PKCS1_SHA512,
            };
            let mut signature = vec![0; pair.public_modulus_len()];
            pair.sign(padding, &rng, message.as_bytes(), &mut signature)
                .expect("signs");
            signature
        }
        Algorithm::Es256 => sig::EcdsaKeyPair::from_pkcs8(&sig::ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8)
            .expect("a P-256 PKCS#8 key")
            .sign(&rng, message.as_bytes())
            .expect("signs")
            .as_ref()
            .to_vec(),
        Algorithm::EdDsa => sig::Ed25519KeyPair::from_pkcs8(pkcs8)
            .expect("an Ed25519 PKCS#8 key")
            .sign(message.as_bytes())
            .as_ref()
            .to_vec(),
    };
    format!("{message}.{}", URL_SAFE_NO_PAD.encode(signature))
}

fn accepted(token: &str, algorithm: Algorithm, jwk: &PublicJwk) -> bool {
    let mut validation = jsonwebtoken::Validation::new(algorithm.jws());
    validation.required_spec_claims.clear();
    let key = jwk.decoding_key().expect("the JWK loads");
    jsonwebtoken::decode::<serde_json::Value>(token, &key, &validation).is_ok()
}

#[test]
fn every_algorithm_signs_what_its_public_key_verifies() {
    for algorithm in Algorithm::ALL {
        let generated = generate(algorithm).expect("generates");
        let pkcs8 = der_of(&generated.private_key_pem, "PRIVATE KEY");
        let token = signed_jwt(algorithm, &pkcs8);
        assert!(accepted(&token, algorithm, &generated.jwk), "{algorithm:?}");
        let other = generate(algorithm).expect("generates");
        assert!(
            !accepted(&token, algorithm, &other.jwk),
            "{algorithm:?}: another key refuses it"
        );
    }
}

#[test]
fn the_public_pem_holds_the_jwks_key() {
    for algorithm in Algorithm::ALL {
        let generated = generate(algorithm).expect("generates");
        let spki = der_of(&generated.public_key_pem, "PUBLIC KEY");
        match &generated.jwk {
            PublicJwk::Rsa { n, e } => {
                let public = aws_lc_rs::rsa::PublicKey::from_der(&spki).expect("an RSA SPKI");
                assert_eq!(
                    *n,
                    URL_SAFE_NO_PAD.encode(public.modulus().big_endian_without_leading_zero())
                );
                assert_eq!(e, "AQAB");
                let bits = public.modulus_len() * 8;
                let expected = match algorithm {
                    Algorithm::Rs256 => 2048,
                    Algorithm::Rs384 => 3072,
                    _ => 4096,
                };
                assert_eq!(bits, expected, "{algorithm:?}");
            }
            PublicJwk::Ec { crv, x, y } => {
                assert_eq!(crv, "P-256");
                let point = [
                    vec![4],
                    URL_SAFE_NO_PAD.decode(x).expect("x"),
                    URL_SAFE_NO_PAD.decode(y).expect("y"),
                ]
                .concat();
                assert!(spki.ends_with(&point), "the SPKI's BIT STRING is the point");
            }
            PublicJwk::Okp { crv, x } => {
                assert_eq!(crv, "Ed25519");
                let key = URL_SAFE_NO_PAD.decode(x).expect("x");
                assert_eq!(key.len(), 32);
                assert!(spki.ends_with(&key));
            }
        }
    }
}

#[test]
fn the_private_key_never_prints() {
    let generated = generate(Algorithm::EdDsa).expect("generates");
    let printed = format!("{generated:?}");
    assert!(!printed.contains("PRIVATE"), "{printed}");
    assert!(printed.contains("PUBLIC KEY"), "{printed}");
}

#[test]
fn the_jwk_members_serialise_as_rfc_7517_names_them() {
    let rsa = serde_json::to_value(PublicJwk::Rsa {
        n: "n".to_owned(),
        e: "AQAB".to_owned(),
    })
    .expect("serialises");
    assert_eq!(rsa, serde_json::json!({"kty": "RSA", "n": "n", "e": "AQAB"}));
    let okp = serde_json::to_value(PublicJwk::Okp {
        crv: "Ed25519".to_owned(),
        x: "x".to_owned(),
    })
    .expect("serialises");
    assert_eq!(okp, serde_json::json!({"kty": "OKP", "crv": "Ed25519", "x": "x"}));
}

#[test]
fn algorithm_names_are_exact() {
    for algorithm in Algorithm::ALL {
        assert_eq!(Algorithm::parse(algorithm.as_str()), Some(algorithm));
    }
    assert_eq!(Algorithm::parse("eddsa"), None);
    assert_eq!(Algorithm::parse("none"), None);
}
