//! Verification of authentic tokens: time, audience, scope, revocation, and verifiers built from a JWKS.

use std::sync::Arc;

use serde_json::json;

use crate::testing::{Fixture, NOW, b64, claims, no_requirements};
use crate::{Claims, Invalid, KeyRing, Requirements, RevocationSet, Verifier};

#[test]
fn a_token_for_any_audience_is_accepted_by_every_audience() {
    let fixture = Fixture::new();
    let claims = Claims {
        aud: "any".into(),
        ..claims()
    };
    let token = fixture.sign(&claims);
    let requirements = Requirements {
        audience: Some("reports"),
        scope: &[],
    };
    assert!(fixture.verifier.verify(&token, &requirements, NOW).is_ok());
}

#[test]
fn an_expired_token_fails_once_past_the_leeway() {
    let fixture = Fixture::new();
    let claims = claims();
    let token = fixture.sign(&claims);
    let leeway = fixture.verifier.leeway();
    assert_eq!(leeway, crate::DEFAULT_LEEWAY_SECS);
    assert!(
        fixture
            .verifier
            .verify(&token, &no_requirements(), claims.exp + leeway - 1)
            .is_ok()
    );
    assert_eq!(
        fixture.verifier.verify(&token, &no_requirements(), claims.exp + leeway),
        Err(Invalid::Expired)
    );
    let strict = fixture.verifier.clone().with_leeway(0);
    assert_eq!(
        strict.verify(&token, &no_requirements(), claims.exp),
        Err(Invalid::Expired)
    );
}

#[test]
fn a_token_before_its_nbf_is_not_yet_valid() {
    let fixture = Fixture::new();
    let claims = Claims {
        nbf: NOW + 100,
        ..claims()
    };
    let token = fixture.sign(&claims);
    assert_eq!(
        fixture.verifier.verify(&token, &no_requirements(), NOW),
        Err(Invalid::NotYetValid)
    );
    assert_eq!(
        fixture.verifier.verify(&token, &no_requirements(), NOW + 69),
        Err(Invalid::NotYetValid)
    );
    assert!(
        fixture.verifier.verify(&token, &no_requirements(), NOW + 70).is_ok(),
        "within the leeway"
    );
}

#[test]
fn a_token_for_another_service_is_the_wrong_audience() {
    let fixture = Fixture::new();
    let token = fixture.sign(&claims());
    let requirements = Requirements {
        audience: Some("reports"),
        scope: &[],
    };
    assert_eq!(
        fixture.verifier.verify(&token, &requirements, NOW),
        Err(Invalid::WrongAudience)
    );
}

#[test]
fn a_missing_scope_is_insufficient() {
    let fixture = Fixture::new();
    let token = fixture.sign(&claims());
    for missing in ["secrets.write", "db", "*"] {
        let required = ["db.read".to_owned(), missing.to_owned()];
        let requirements = Requirements {
            audience: None,
            scope: &required,
        };
        assert_eq!(
            fixture.verifier.verify(&token, &requirements, NOW),
            Err(Invalid::InsufficientScope),
            "{missing}"
        );
    }
}

#[test]
fn a_revoked_token_or_agent_is_refused_as_such() {
    let fixture = Fixture::new();
    let claims = claims();
    let token = fixture.sign(&claims);
    fixture.revocations.revoke_token(&claims.jti, claims.exp);
    assert_eq!(
        fixture.verifier.verify(&token, &no_requirements(), NOW),
        Err(Invalid::TokenRevoked)
    );

    let other = crate::testing::claims();
    let other_token = fixture.sign(&other);
    assert!(fixture.verifier.verify(&other_token, &no_requirements(), NOW).is_ok());
    fixture.revocations.revoke_agent(&other.sub, NOW);
    assert_eq!(
        fixture.verifier.verify(&other_token, &no_requirements(), NOW),
        Err(Invalid::AgentRevoked)
    );
}

#[test]
fn a_verifier_from_the_jwks_alone_accepts_tokens_of_every_published_key() {
    let mut ring = KeyRing::with_new_key(NOW);
    let old_token = crate::issue(&ring, &claims(), NOW).expect("issue");
    ring.rotate(NOW, 60, 86_400);
    let new_token = crate::issue(&ring, &claims(), NOW + 60).expect("issue");
    let mut jwks = ring.jwks(NOW + 60);
    // Keys a JWKS may also hold that cannot verify our tokens are skipped.
    jwks["keys"]
        .as_array_mut()
        .expect("keys")
        .push(json!({"kty": "RSA", "kid": "rsa", "n": "AQAB", "e": "AQAB"}));
    let verifier = Verifier::from_jwks(&jwks, Arc::new(RevocationSet::new())).expect("jwks");
    assert_eq!(verifier.kids().count(), 2);
    assert!(verifier.verify(&old_token, &no_requirements(), NOW + 60).is_ok());
    assert!(verifier.verify(&new_token, &no_requirements(), NOW + 60).is_ok());

    let no_kid = json!({"keys": [{"kty": "OKP", "crv": "Ed25519", "x": b64([1u8; 32])}]});
    assert!(Verifier::from_jwks(&no_kid, Arc::new(RevocationSet::new())).is_err());
    let short_x = json!({"keys": [{"kty": "OKP", "crv": "Ed25519", "kid": "k", "x": b64([1u8; 31])}]});
    assert!(Verifier::from_jwks(&short_x, Arc::new(RevocationSet::new())).is_err());
}
