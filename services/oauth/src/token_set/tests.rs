use super::*;

#[test]
fn debug_never_shows_a_token() {
    let set = TokenSet {
        access_token: "at-very-secret".into(),
        refresh_token: Some("rt-very-secret".into()),
        expires_at_ms: 5,
        scopes: vec!["email".into()],
    };
    let shown = format!("{set:?}");
    assert!(!shown.contains("very-secret"), "{shown}");
    let back = TokenSet::from_json(&set.to_json(), &ConnectionId::new()).unwrap();
    assert_eq!(back.refresh_token.as_deref(), Some("rt-very-secret"));
}

#[test]
fn a_token_within_the_margin_needs_a_refresh() {
    let set = TokenSet {
        access_token: String::new(),
        refresh_token: None,
        expires_at_ms: 100_000,
        scopes: vec![],
    };
    assert!(!set.needs_refresh(10_000, 60_000));
    assert!(set.needs_refresh(40_000, 60_000));
    assert!(!set.is_expired(99_999));
    assert!(set.is_expired(100_000));
}
