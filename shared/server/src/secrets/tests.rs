use super::*;

#[test]
fn a_new_secret_has_the_documented_shape_and_is_never_repeated() {
    let a = new_api_key_secret();
    let b = new_api_key_secret();
    assert!(looks_like_api_key(&a), "{a}");
    assert_ne!(a, b);
    assert_eq!(a.len(), API_KEY_PREFIX.len() + SECRET_LEN);
}

#[test]
fn malformed_secrets_are_rejected_before_any_lookup() {
    for bad in [
        "",
        "lk_live_",
        "lk_live_short",
        "sk_live_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        "lk_live_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAA-A",
    ] {
        assert!(!looks_like_api_key(bad), "{bad}");
    }
}

#[test]
fn hashes_compare_equal_only_when_equal() {
    let h = secret_hash("lk_live_x");
    assert!(hashes_match(&h, &secret_hash("lk_live_x")));
    assert!(!hashes_match(&h, &secret_hash("lk_live_y")));
    assert!(!hashes_match(&h, "short"));
}

#[test]
fn the_kinds_of_credential_cannot_be_mistaken_for_each_other() {
    let service_key = new_secret(SERVICE_KEY_PREFIX);
    assert!(looks_like_service_key(&service_key), "{service_key}");
    assert!(!looks_like_api_key(&service_key));
    assert!(!looks_like_service_key(&new_api_key_secret()));
    assert!(!looks_like_service_key(&new_secret(AGENT_SECRET_PREFIX)));
}
