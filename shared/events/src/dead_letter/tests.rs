use super::*;

#[test]
fn revocations_get_their_own_budget_and_zero_counts_as_one() {
    let config = EventsConfig {
        relay_max_attempts: 3,
        consumer_max_attempts: 0,
        revocation_max_attempts: 7,
    };
    assert_eq!(config.relay_limit("account.created"), 3);
    assert_eq!(config.relay_limit("token.revoked"), 7);
    assert_eq!(config.consumer_limit("account.created"), 1);
    assert_eq!(config.consumer_limit("api_key.deleted"), 7);
}

#[test]
fn the_revocation_class_is_in_the_catalogue() {
    for revocation in REVOCATIONS {
        assert_eq!(EventType::parse(revocation.as_str()), Some(*revocation));
    }
    assert!(is_revocation("agent.revoked"));
    assert!(!is_revocation("agent.created"));
}

#[test]
fn a_location_reads_back() {
    for location in [
        Location::Relay("/latchkey/agent-token".into()),
        Location::Consumer("audit".into()),
    ] {
        assert_eq!(Location::parse(&location.to_string()), Some(location));
    }
    assert_eq!(Location::parse("gateway:x"), None);
}
