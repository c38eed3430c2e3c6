use super::*;

#[test]
fn every_name_parses_back_to_its_type() {
    for event_type in EventType::ALL {
        assert_eq!(EventType::parse(event_type.as_str()), Some(*event_type));
    }
    assert_eq!(EventType::parse("token.nope"), None);
}

#[test]
fn the_seed_webhook_events_are_in_the_catalogue() {
    for name in [
        "token.issued",
        "token.denied",
        "token.revoked",
        "agent.created",
        "agent.revoked",
        "policy.created",
        "policy.deactivated",
        "billing.plan_upgraded",
    ] {
        assert!(EventType::parse(name).is_some(), "{name}");
    }
}

#[test]
fn console_sessions_are_announced_by_id_never_by_token() {
    assert_eq!(
        EventType::parse("console.session_started"),
        Some(EventType::ConsoleSessionStarted)
    );
    assert_eq!(
        EventType::parse("console.session_ended"),
        Some(EventType::ConsoleSessionEnded)
    );
    let started = ConsoleSessionStarted {
        session_id: "cses_1".to_owned(),
        actor_id: "key_1".to_owned(),
    };
    assert_eq!(
        serde_json::to_value(&started).unwrap(),
        serde_json::json!({"session_id": "cses_1", "actor_id": "key_1"})
    );
    assert_eq!(started.subject().as_deref(), Some("cses_1"));
    let ended = ConsoleSessionEnded {
        session_ids: vec!["cses_1".to_owned(), "cses_2".to_owned()],
        reason: "signed_out_everywhere".to_owned(),
    };
    assert_eq!(
        serde_json::to_value(&ended).unwrap(),
        serde_json::json!({"session_ids": ["cses_1", "cses_2"], "reason": "signed_out_everywhere"})
    );
    assert_eq!(ended.subject().as_deref(), Some("cses_1"), "the session signed out of");
}
