use super::super::testing::{NOW, claims};
use super::*;

#[test]
fn an_issued_token_has_the_documented_header_and_the_claims_as_payload() {
    let ring = KeyRing::with_new_key(NOW);
    let claims = claims();
    let token = issue(&ring, &claims, NOW).expect("issue");
    let parts = Compact::split(&token).expect("three parts");
    let header: serde_json::Value = serde_json::from_slice(&decode_part(parts.header).expect("b64")).expect("json");
    let kid = ring.active_signer(NOW).expect("signer").kid();
    assert_eq!(header, serde_json::json!({"alg": "EdDSA", "typ": "JWT", "kid": kid}));
    let payload: Claims = serde_json::from_slice(&decode_part(parts.payload).expect("b64")).expect("json");
    assert_eq!(payload, claims);
    assert!(decode_signature(parts.signature).is_some());
    assert!(!token.contains('='), "no padding");
}

#[test]
fn issuing_needs_an_active_key() {
    let ring = KeyRing::new();
    assert!(matches!(issue(&ring, &claims(), NOW), Err(TokenError::NoActiveKey)));
}

#[test]
fn claims_too_large_for_a_verifier_are_not_signed() {
    let ring = KeyRing::with_new_key(NOW);
    let claims = Claims {
        intent: Some("x".repeat(MAX_TOKEN_LEN)),
        ..claims()
    };
    assert!(matches!(issue(&ring, &claims, NOW), Err(TokenError::TooLarge)));
}

#[test]
fn only_three_part_tokens_split() {
    assert!(Compact::split("a.b.c").is_some());
    for bad in ["", "a", "a.b", "a.b.c.d", "a.b.c.d.e"] {
        assert!(Compact::split(bad).is_none(), "{bad:?}");
    }
}
