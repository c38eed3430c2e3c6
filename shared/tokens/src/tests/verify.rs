//! Verification of a token's form and signature: a round trip, and every reason a forged, tampered or
//! garbled token fails. (`verify_claims` covers the checks on authentic tokens.)

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::json;

use crate::testing::{Fixture, NOW, b64, claims, forge, no_requirements};
use crate::{Claims, Invalid, KeyRing, MAX_TOKEN_LEN, Requirements};

#[test]
fn an_issued_token_verifies_to_its_claims() {
    let fixture = Fixture::new();
    let claims = claims();
    let token = fixture.sign(&claims);
    let required = ["db.write".to_owned(), "secrets.read".to_owned()];
    let requirements = Requirements {
        audience: Some("billing"),
        scope: &required,
    };
    assert_eq!(fixture.verifier.verify(&token, &requirements, NOW), Ok(claims.clone()));
    assert_eq!(fixture.verifier.verify(&token, &no_requirements(), NOW), Ok(claims));
}

#[test]
fn a_tampered_payload_or_signature_is_a_bad_signature() {
    let fixture = Fixture::new();
    let claims = claims();
    let token = fixture.sign(&claims);
    let parts: Vec<&str> = token.split('.').collect();

    let widened = Claims {
        scope: vec!["*".into()],
        ..claims
    };
    let tampered_payload = format!(
        "{}.{}.{}",
        parts[0],
        b64(serde_json::to_vec(&widened).expect("json")),
        parts[2]
    );
    assert_eq!(
        fixture.verifier.verify(&tampered_payload, &no_requirements(), NOW),
        Err(Invalid::BadSignature)
    );

    let mut signature = URL_SAFE_NO_PAD.decode(parts[2]).expect("b64");
    signature[10] ^= 0x01;
    let tampered_signature = format!("{}.{}.{}", parts[0], parts[1], b64(&signature));
    assert_eq!(
        fixture.verifier.verify(&tampered_signature, &no_requirements(), NOW),
        Err(Invalid::BadSignature)
    );
}

#[test]
fn another_key_claiming_a_known_kid_is_a_bad_signature() {
    let fixture = Fixture::new();
    let kid = fixture.ring.active_signer(NOW).expect("signer").kid();
    let impostor = ed25519_dalek::SigningKey::from_bytes(&[7; 32]);
    let token = forge(json!({"alg": "EdDSA", "typ": "JWT", "kid": kid}), &claims(), &impostor);
    assert_eq!(
        fixture.verifier.verify(&token, &no_requirements(), NOW),
        Err(Invalid::BadSignature)
    );
}

#[test]
fn an_unknown_or_missing_kid_is_an_unknown_key() {
    let fixture = Fixture::new();
    let other_ring = KeyRing::with_new_key(NOW);
    let token = crate::issue(&other_ring, &claims(), NOW).expect("issue");
    assert_eq!(
        fixture.verifier.verify(&token, &no_requirements(), NOW),
        Err(Invalid::UnknownKey)
    );

    let key = ed25519_dalek::SigningKey::from_bytes(&[7; 32]);
    let without_kid = forge(json!({"alg": "EdDSA", "typ": "JWT"}), &claims(), &key);
    assert_eq!(
        fixture.verifier.verify(&without_kid, &no_requirements(), NOW),
        Err(Invalid::UnknownKey)
    );
}

#[test]
fn alg_none_and_hs256_are_unsupported_algorithms() {
    let fixture = Fixture::new();
    let kid = fixture.ring.active_signer(NOW).expect("signer").kid();
    let payload = b64(serde_json::to_vec(&claims()).expect("json"));

    let unsigned = format!(
        "{}.{payload}.",
        b64(json!({"alg": "none", "typ": "JWT", "kid": kid}).to_string())
    );
    assert_eq!(
        fixture.verifier.verify(&unsigned, &no_requirements(), NOW),
        Err(Invalid::UnsupportedAlgorithm)
    );

    // The classic confusion: an HMAC "signature" keyed with the public key, which anyone can compute.
    // It is refused on the algorithm alone, whatever the MAC says.
    let hs256 = format!(
        "{}.{payload}.{}",
        b64(json!({"alg": "HS256", "typ": "JWT", "kid": kid}).to_string()),
        b64([0u8; 32])
    );
    assert_eq!(
        fixture.verifier.verify(&hs256, &no_requirements(), NOW),
        Err(Invalid::UnsupportedAlgorithm)
    );
}

#[test]
fn garbage_and_unsupported_headers_are_malformed() {
    let fixture = Fixture::new();
    let kid = fixture.ring.active_signer(NOW).expect("signer").kid();
    let token = fixture.sign(&claims());
    let (signing_input, signature) = token.rsplit_once('.').expect("three parts");
    let crit = forge(
        json!({"alg": "EdDSA", "kid": kid, "crit": ["b64"], "b64": false}),
        &claims(),
        &ed25519_dalek::SigningKey::from_bytes(&[7; 32]),
    );
    let oversized = format!("{token}{}", "A".repeat(MAX_TOKEN_LEN));
    let cases = [
        String::new(),
        "not a token".to_owned(),
        "a.b".to_owned(),
        format!("{token}.extra"),
        format!("!!.{}", token.split_once('.').expect("dot").1),
        format!("{}.{}", b64("[1,2]"), token.split_once('.').expect("dot").1),
        format!("{signing_input}.{}", &signature[..80]),
        format!("{signing_input}.{signature}A"),
        crit,
        oversized,
    ];
    for case in &cases {
        assert_eq!(
            fixture.verifier.verify(case, &no_requirements(), NOW),
            Err(Invalid::Malformed),
            "{case:.60}"
        );
    }
}

#[test]
fn reasons_serialise_in_snake_case() {
    for reason in [
        Invalid::UnsupportedAlgorithm,
        Invalid::NotYetValid,
        Invalid::AgentRevoked,
        Invalid::Malformed,
    ] {
        assert_eq!(serde_json::to_value(reason).expect("json"), json!(reason.as_str()));
    }
    assert_eq!(Invalid::InsufficientScope.as_str(), "insufficient_scope");
}

/// Found by the `token_verify` fuzz target: issue signed claims of any size, while the verifier
/// refused every token over 8 KiB as malformed, so a token with the scopes and intent the issue API
/// accepts (50 scopes of 128 bytes, 500 characters of intent) could never be used.
#[test]
fn the_largest_token_the_issue_api_accepts_verifies() {
    let fixture = Fixture::new();
    let claims = Claims {
        aud: "\"".repeat(128),
        scope: (0..50).map(|i| format!("{i:02}.{}", "s".repeat(125))).collect(),
        intent: Some("\u{1}".repeat(500)),
        ..claims()
    };
    assert!(claims.scope.iter().all(|scope| scope.len() == 128));
    let token = fixture.sign(&claims);
    assert_eq!(fixture.verifier.verify(&token, &no_requirements(), NOW), Ok(claims));
}

/// Found by the `token_verify` fuzz target: serde_json skips a member the header type ignores
/// without checking its UTF-8, so a genuinely signed header that is not UTF-8 JSON was accepted.
#[test]
fn a_signed_header_or_payload_that_is_not_utf8_json_is_malformed() {
    use ed25519_dalek::Signer;

    let fixture = Fixture::new();
    let signer = fixture.ring.active_signer(NOW).expect("signer");
    let key = ed25519_dalek::SigningKey::from_bytes(&signer.to_secret_bytes());
    let header = format!(r#"{{"alg":"EdDSA","typ":"JWT","kid":"{}"}}"#, signer.kid()).into_bytes();
    let payload = serde_json::to_vec(&claims()).expect("json");
    let with_bad_member = |json: &[u8]| {
        let mut json = json[..json.len() - 1].to_vec();
        json.extend_from_slice(b",\"x\":\"\xff\"}");
        json
    };
    let sign = |header: &[u8], payload: &[u8]| {
        let signing_input = format!("{}.{}", b64(header), b64(payload));
        format!("{signing_input}.{}", b64(key.sign(signing_input.as_bytes()).to_bytes()))
    };
    let genuine = sign(&header, &payload);
    assert!(fixture.verifier.verify(&genuine, &no_requirements(), NOW).is_ok());
    for token in [
        sign(&with_bad_member(&header), &payload),
        sign(&header, &with_bad_member(&payload)),
    ] {
        assert_eq!(
            fixture.verifier.verify(&token, &no_requirements(), NOW),
            Err(Invalid::Malformed)
        );
    }
}
