//! Independent verification: `jsonwebtoken`, a standard JWT library sharing no code with ours, accepts
//! a Latchkey token given nothing but the JWKS JSON a service would fetch.

use std::time::{SystemTime, UNIX_EPOCH};

use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation, decode, decode_header, errors::ErrorKind};

use crate::testing::claims;
use crate::{Claims, KeyRing, issue};

/// jsonwebtoken checks times against the real clock, so these tests issue for the real now.
fn wall_clock() -> i64 {
    let elapsed = SystemTime::now().duration_since(UNIX_EPOCH).expect("after 1970");
    i64::try_from(elapsed.as_secs()).expect("fits")
}

fn live_claims(now: i64) -> Claims {
    Claims {
        iat: now,
        nbf: now,
        exp: now + 300,
        ..claims()
    }
}

/// Verifies like a third-party service: the key is picked from the JWKS by the header's kid, and the
/// algorithm is pinned by the verifier, not taken from the token.
fn verify_with_jsonwebtoken(token: &str, jwks_json: &str) -> jsonwebtoken::errors::Result<Claims> {
    let jwks: JwkSet = serde_json::from_str(jwks_json).expect("a JWKS document");
    let kid = decode_header(token)?.kid.expect("a kid header");
    let jwk = jwks.find(&kid).expect("the kid is published");
    let key = DecodingKey::from_jwk(jwk)?;
    let mut validation = Validation::new(Algorithm::EdDSA);
    validation.set_audience(&["billing"]);
    validation.set_issuer(&["https://latchkey.test"]);
    validation.set_required_spec_claims(&["exp", "nbf", "aud", "iss", "sub"]);
    validation.validate_nbf = true;
    Ok(decode::<Claims>(token, &key, &validation)?.claims)
}

#[test]
fn jsonwebtoken_verifies_a_latchkey_token_from_the_jwks_alone() {
    let now = wall_clock();
    let mut ring = KeyRing::with_new_key(now - 10);
    // A second, not-yet-active key in the JWKS: the library must select by kid.
    ring.rotate(now, 3_600, 86_400);
    let claims = live_claims(now);
    let token = issue(&ring, &claims, now).expect("issue");
    let jwks_json = ring.jwks(now).to_string();
    assert_eq!(
        verify_with_jsonwebtoken(&token, &jwks_json).expect("verified by jsonwebtoken"),
        claims
    );
}

#[test]
fn jsonwebtoken_also_verifies_from_the_raw_x() {
    let now = wall_clock();
    let ring = KeyRing::with_new_key(now);
    let token = issue(&ring, &live_claims(now), now).expect("issue");
    let jwks = ring.jwks(now);
    let x = jwks["keys"][0]["x"].as_str().expect("x");
    let key = DecodingKey::from_ed_components(x).expect("x decodes");
    let mut validation = Validation::new(Algorithm::EdDSA);
    validation.set_audience(&["billing"]);
    assert!(decode::<Claims>(&token, &key, &validation).is_ok());
}

#[test]
fn jsonwebtoken_rejects_a_tampered_latchkey_token() {
    let now = wall_clock();
    let ring = KeyRing::with_new_key(now);
    let token = issue(&ring, &live_claims(now), now).expect("issue");
    let jwks_json = ring.jwks(now).to_string();
    let (signing_input, _) = token.rsplit_once('.').expect("three parts");
    let other = issue(&KeyRing::with_new_key(now), &live_claims(now), now).expect("issue");
    let (_, foreign_signature) = other.rsplit_once('.').expect("three parts");
    let spliced = format!("{signing_input}.{foreign_signature}");
    let error = verify_with_jsonwebtoken(&spliced, &jwks_json).expect_err("a signature of another key");
    assert!(matches!(error.kind(), ErrorKind::InvalidSignature), "{error:?}");
}
