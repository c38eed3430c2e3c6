use super::*;

#[test]
fn a_target_service_is_a_name_not_a_pattern() {
    assert_eq!(target_problem("billing"), None);
    assert_eq!(target_problem("https://api.example.com"), None);
    assert!(target_problem("*").is_some());
    assert!(target_problem("billing.*").is_some());
    assert!(target_problem("has space").is_some());
    assert!(target_problem(&"a".repeat(MAX_SCOPE_LEN + 1)).is_some());
}

#[test]
fn a_request_names_each_bad_field() {
    let request = TokenRequest {
        agent_id: None,
        scope: vec!["ok".into(), "*.bad".into()],
        ttl: Some(86_401),
        target_service: Some("has space".into()),
        intent: Some("x".repeat(501)),
        approval_id: Some("nope".into()),
    };
    let Err(AgentTokenError::Invalid(error)) = request.validated() else {
        panic!("expected a validation error");
    };
    let fields: Vec<&str> = error.errors.iter().map(|e| e.field.as_str()).collect();
    assert_eq!(
        fields,
        ["agent_id", "scope[1]", "ttl", "target_service", "intent", "approval_id"]
    );
}
