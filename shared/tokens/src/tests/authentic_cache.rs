//! A verifier with a cache of authentic tokens answers exactly as one without: a token seen before
//! skips only the signature check, never the checks whose answer changes with time or events.

use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::testing::{Fixture, NOW, TTL, b64, claims, no_requirements};
use crate::{Claims, Invalid, Requirements, Verifier};

fn cached(fixture: &Fixture, entries: usize) -> Verifier {
    fixture.verifier.clone().with_cache(entries)
}

#[test]
fn a_token_seen_before_is_still_checked_for_time_audience_scope_and_revocation() {
    let fixture = Fixture::new();
    let verifier = cached(&fixture, 100);
    let claims = claims();
    let token = fixture.sign(&claims);
    assert_eq!(verifier.verify(&token, &no_requirements(), NOW), Ok(claims.clone()));
    assert_eq!(verifier.verify(&token, &no_requirements(), NOW + 1), Ok(claims.clone()));

    let other_audience = Requirements {
        audience: Some("payroll"),
        scope: &[],
    };
    assert_eq!(
        verifier.verify(&token, &other_audience, NOW),
        Err(Invalid::WrongAudience)
    );
    let wider = ["admin.write".to_owned()];
    let more_scope = Requirements {
        audience: None,
        scope: &wider,
    };
    assert_eq!(
        verifier.verify(&token, &more_scope, NOW),
        Err(Invalid::InsufficientScope)
    );
    let much_later = NOW + TTL + verifier.leeway();
    assert_eq!(
        verifier.verify(&token, &no_requirements(), much_later),
        Err(Invalid::Expired)
    );

    fixture.revocations.revoke_token(claims.jti.clone(), claims.exp);
    assert_eq!(
        verifier.verify(&token, &no_requirements(), NOW),
        Err(Invalid::TokenRevoked)
    );
}

#[test]
fn a_tampered_copy_of_a_cached_token_is_still_a_bad_signature() {
    let fixture = Fixture::new();
    let verifier = cached(&fixture, 100);
    let claims = claims();
    let token = fixture.sign(&claims);
    assert!(verifier.verify(&token, &no_requirements(), NOW).is_ok());

    let parts: Vec<&str> = token.split('.').collect();
    let widened = Claims {
        scope: vec!["*".into()],
        ..claims
    };
    let tampered = format!(
        "{}.{}.{}",
        parts[0],
        b64(serde_json::to_vec(&widened).expect("json")),
        parts[2]
    );
    assert_eq!(
        verifier.verify(&tampered, &no_requirements(), NOW),
        Err(Invalid::BadSignature)
    );
    let mut signature = URL_SAFE_NO_PAD.decode(parts[2]).expect("b64");
    signature[0] ^= 0x01;
    let resigned = format!("{}.{}.{}", parts[0], parts[1], b64(&signature));
    assert_eq!(
        verifier.verify(&resigned, &no_requirements(), NOW),
        Err(Invalid::BadSignature)
    );
}

#[test]
fn clones_share_the_cache_and_it_stays_within_its_bound() {
    let fixture = Fixture::new();
    let verifier = cached(&fixture, 8);
    let clone = verifier.clone();
    let cache = Arc::clone(verifier.authentic.as_ref().expect("a cache"));
    let token = fixture.sign(&claims());
    assert!(verifier.verify(&token, &no_requirements(), NOW).is_ok());
    assert_eq!(cache.len(), 1);
    assert!(clone.verify(&token, &no_requirements(), NOW).is_ok());
    assert_eq!(cache.len(), 1, "the clone found the entry");

    for _ in 0..50 {
        let token = fixture.sign(&claims());
        assert!(verifier.verify(&token, &no_requirements(), NOW).is_ok());
        assert!(cache.len() <= 8, "{} entries", cache.len());
    }
}

#[test]
fn expired_and_unauthentic_tokens_are_not_kept() {
    let fixture = Fixture::new();
    let verifier = cached(&fixture, 100);
    let cache = Arc::clone(verifier.authentic.as_ref().expect("a cache"));
    let token = fixture.sign(&claims());
    let much_later = NOW + TTL + verifier.leeway();
    assert_eq!(
        verifier.verify(&token, &no_requirements(), much_later),
        Err(Invalid::Expired)
    );
    assert_eq!(
        verifier.verify("a.b.c", &no_requirements(), NOW),
        Err(Invalid::Malformed)
    );
    assert_eq!(cache.len(), 0);
}

#[test]
fn no_cache_when_asked_for_none() {
    let fixture = Fixture::new();
    assert!(cached(&fixture, 0).authentic.is_none());
}

#[test]
fn verifiers_of_one_key_set_have_the_same_keys_and_a_rotation_changes_them() {
    let fixture = Fixture::new();
    let again = Verifier::from_key_ring(&fixture.ring, NOW, fixture.revocations.clone());
    assert!(fixture.verifier.same_keys(&again));
    let other = Fixture::new();
    assert!(!fixture.verifier.same_keys(&other.verifier));
}
