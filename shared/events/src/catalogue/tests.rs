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
