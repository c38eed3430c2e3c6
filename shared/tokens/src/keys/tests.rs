use super::*;

#[test]
fn a_key_comes_back_from_its_seed_with_the_same_kid() {
    let key = SigningKey::generate(KeySchedule::new(10, 20));
    let restored =
        SigningKey::from_secret_bytes(key.to_secret_bytes().as_slice(), *key.schedule()).expect("32-byte seed");
    assert_eq!(restored.kid(), key.kid());
    assert_eq!(restored.verifying_key(), key.verifying_key());
    assert_eq!(key.kid().len(), 11, "8 bytes of base64url");
    assert!(matches!(
        SigningKey::from_secret_bytes(&[1; 31], KeySchedule::new(0, 0)),
        Err(TokenError::InvalidSecretKey)
    ));
}

#[test]
fn debug_never_shows_the_secret() {
    let key = SigningKey::generate(KeySchedule::new(0, 0));
    let printed = format!("{key:?}");
    let seed = key.to_secret_bytes();
    assert!(printed.contains(key.kid()));
    assert!(!printed.contains(&URL_SAFE_NO_PAD.encode(seed.as_slice())));
    assert!(!printed.contains(&format!("{:?}", seed.as_slice())));
    assert!(!printed.to_lowercase().contains("secret"));
}

#[test]
fn the_jwk_has_the_public_members_only() {
    let key = SigningKey::generate(KeySchedule::new(0, 0));
    let jwk = key.public_jwk();
    let members: Vec<&str> = jwk.as_object().expect("object").keys().map(String::as_str).collect();
    assert_eq!(members.len(), 6);
    for member in ["kty", "crv", "x", "kid", "use", "alg"] {
        assert!(members.contains(&member), "{member}");
    }
    assert_eq!(jwk["x"], URL_SAFE_NO_PAD.encode(key.verifying_key().as_bytes()));
}

#[test]
fn a_schedule_signs_between_activation_and_retirement_and_publishes_until_its_end() {
    let schedule = KeySchedule {
        created_at: 10,
        activates_at: 20,
        retires_at: Some(30),
        published_until: Some(40),
    };
    assert!(!schedule.signs_at(19) && schedule.signs_at(20) && schedule.signs_at(29) && !schedule.signs_at(30));
    assert!(!schedule.is_published_at(9) && schedule.is_published_at(10));
    assert!(schedule.is_published_at(39) && !schedule.is_published_at(40));
}
