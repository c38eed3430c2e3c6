use super::*;

#[test]
fn a_category_wildcard_selects_its_category_only() {
    assert!(matches("token.*", "token.issued"));
    assert!(matches("token.*", "token.revoked"));
    assert!(!matches("token.*", "tokens.issued"));
    assert!(!matches("token.*", "agent.created"));
    assert!(matches("*", "agent.created"));
    assert!(matches("agent.created", "agent.created"));
    assert!(!matches("agent.created", "agent.revoked"));
}

#[test]
fn patterns_that_match_nothing_are_named() {
    let error = validate(&["token.*".into(), "tokn.issued".into()]).unwrap_err();
    let WebhookError::Invalid(api_error) = error else {
        panic!("expected a validation error");
    };
    assert_eq!(api_error.errors[0].field, "events[1]");
    assert!(validate(&[]).is_err());
    assert!(validate(&["token.".into()]).is_err());
    assert!(validate(&["**".into()]).is_err());
}

#[test]
fn valid_patterns_are_trimmed_and_deduplicated() {
    let accepted = validate(&[" token.* ".into(), "token.*".into(), "endpoint.disabled".into()]).unwrap();
    assert_eq!(accepted, ["token.*", "endpoint.disabled"]);
}
