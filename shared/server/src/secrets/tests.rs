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

#[test]
fn a_console_session_token_is_the_prefix_and_256_random_bits_in_base64url() {
    let a = new_console_session_token().expect("the OS generator answers");
    let b = new_console_session_token().expect("the OS generator answers");
    assert_ne!(a, b);
    assert!(looks_like_console_session_token(&a), "{a}");
    let body = a.strip_prefix(CONSOLE_SESSION_PREFIX).expect("the prefix");
    use base64::Engine as _;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(body)
        .expect("base64url");
    assert_eq!(bytes.len(), 32);
    assert!(!looks_like_api_key(&a) && !looks_like_service_key(&a));
}

#[test]
fn malformed_console_session_tokens_are_rejected_before_any_lookup() {
    let good = new_console_session_token().expect("the OS generator answers");
    for bad in [
        String::new(),
        CONSOLE_SESSION_PREFIX.to_owned(),
        good.replace(CONSOLE_SESSION_PREFIX, "lk_live_"),
        format!(" {good}"),
        format!("{good}\n"),
        format!("{good}="),
        format!("{good}A"),
        good[..good.len() - 1].to_owned(),
        format!("{}+{}", &good[..10], &good[11..]),
        format!("{good}{}", "A".repeat(300)),
        new_api_key_secret(),
    ] {
        assert!(!looks_like_console_session_token(&bad), "{bad:?}");
    }
}
