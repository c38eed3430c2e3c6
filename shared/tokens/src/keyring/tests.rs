use super::*;

const LEAD: i64 = 3_600;
const MAX_TTL: i64 = 86_400;

fn kids(jwks: &serde_json::Value) -> Vec<String> {
    jwks["keys"]
        .as_array()
        .expect("keys array")
        .iter()
        .map(|jwk| jwk["kid"].as_str().expect("kid").to_owned())
        .collect()
}

#[test]
fn an_empty_ring_has_no_signer_and_an_empty_jwks() {
    let ring = KeyRing::new();
    assert!(ring.active_signer(0).is_none());
    assert_eq!(ring.jwks(0), serde_json::json!({"keys": []}));
}

#[test]
fn rotation_publishes_before_signing_and_unpublishes_after_the_last_token_expires() {
    let mut ring = KeyRing::with_new_key(1_000);
    let old = ring
        .active_signer(1_000)
        .expect("first key signs at once")
        .kid()
        .to_owned();

    let new = ring.rotate(2_000, LEAD, MAX_TTL).kid().to_owned();
    assert_ne!(new, old);
    // Published at once, but the old key keeps signing through the lead.
    assert_eq!(kids(&ring.jwks(2_000)), [old.clone(), new.clone()]);
    assert_eq!(ring.active_signer(2_000).map(SigningKey::kid), Some(old.as_str()));
    assert_eq!(
        ring.active_signer(2_000 + LEAD - 1).map(SigningKey::kid),
        Some(old.as_str())
    );
    // From the activation moment the new key signs and the old one is retired.
    let activation = 2_000 + LEAD;
    assert_eq!(ring.active_signer(activation).map(SigningKey::kid), Some(new.as_str()));
    let retired = ring.keys().iter().find(|key| key.kid() == old).expect("old key kept");
    assert_eq!(retired.schedule().retires_at, Some(activation));

    // A token the old key signed just before retiring expires at activation - 1 + MAX_TTL.
    let last_expiry = activation - 1 + MAX_TTL;
    assert_eq!(kids(&ring.jwks(last_expiry)), [old.clone(), new.clone()]);
    assert!(
        ring.prune(last_expiry + MAX_LEEWAY_SECS).is_empty(),
        "kept through the leeway"
    );
    let unpublished = activation + MAX_TTL + MAX_LEEWAY_SECS;
    assert_eq!(kids(&ring.jwks(unpublished)), std::slice::from_ref(&new));
    assert_eq!(ring.prune(unpublished), [old]);
    assert_eq!(ring.keys().len(), 1);
    assert_eq!(kids(&ring.jwks(unpublished)), [new]);
}

#[test]
fn rotating_again_during_the_lead_retires_the_pending_key_too() {
    let mut ring = KeyRing::with_new_key(0);
    let first = ring.active_signer(0).expect("signs").kid().to_owned();
    let second = ring.rotate(100, LEAD, MAX_TTL).kid().to_owned();
    let third = ring.rotate(200, LEAD, MAX_TTL).kid().to_owned();
    let retires = |kid: &str| {
        ring.keys()
            .iter()
            .find(|key| key.kid() == kid)
            .and_then(|key| key.schedule().retires_at)
    };
    assert_eq!(retires(&first), Some(100 + LEAD), "its first retirement stands");
    assert_eq!(retires(&second), Some(200 + LEAD));
    assert_eq!(retires(&third), None);
    assert_eq!(
        ring.active_signer(150 + LEAD).map(SigningKey::kid),
        Some(second.as_str())
    );
    assert_eq!(
        ring.active_signer(200 + LEAD).map(SigningKey::kid),
        Some(third.as_str())
    );
    assert_eq!(ring.published(200).count(), 3);
}

#[test]
fn stored_keys_load_in_activation_order() {
    let later = SigningKey::generate(KeySchedule::new(5, 50));
    let earlier = SigningKey::generate(KeySchedule::new(0, 0));
    let ring = KeyRing::from_keys([later.clone(), earlier.clone()]);
    assert_eq!(ring.active_signer(10).map(SigningKey::kid), Some(earlier.kid()));
    assert_eq!(ring.active_signer(50).map(SigningKey::kid), Some(later.kid()));
}
