use super::*;

#[test]
fn patterns_match_like_nats_subjects() {
    let tokens = EventFilter::event_type("token.*");
    assert!(tokens.matches_type("token.issued"));
    assert!(tokens.matches_type("token.revoked"));
    assert!(!tokens.matches_type("agent.revoked"));
    assert!(!tokens.matches_type("token"));
    assert!(!tokens.matches_type("token.issued.extra"));

    let exact = EventFilter::event_type("api_key.deleted");
    assert!(exact.matches_type("api_key.deleted"));
    assert!(!exact.matches_type("api_key.created"));

    let rest = EventFilter::event_type(">");
    assert!(rest.matches_type("connection.refresh_failed"));
    assert!(EventFilter::all().matches_type("anything.at.all"));
}

#[test]
fn invalid_patterns_are_recognised() {
    assert!(EventFilter::event_type("token.*").is_valid());
    assert!(EventFilter::event_type("token.>").is_valid());
    assert!(!EventFilter::event_type("token..issued").is_valid());
    assert!(!EventFilter::event_type("token.is*").is_valid());
    assert!(!EventFilter::event_type(">.issued").is_valid());
    assert!(!EventFilter::event_type("token issued").is_valid());
    assert!(!EventFilter::event_type("").is_valid());
}

#[test]
fn subjects_cover_every_account() {
    assert_eq!(EventFilter::all().subject_under("lk"), "lk.events.>");
    assert_eq!(
        EventFilter::event_type("token.*").subject_under("lk"),
        "lk.events.*.token.*"
    );
}
