use std::collections::BTreeSet;

use super::*;
use crate::{Envelope, EventFilter, catalogue::AccountCreated};

/// Whether NATS would let `subject` through one of `allowed` (wildcard subjects as NATS matches them).
fn allows(allowed: &[String], subject: &str) -> bool {
    allowed
        .iter()
        .any(|pattern| EventFilter::event_type(pattern).matches_type(subject))
}

/// The subject the bus publishes an event of `event_type` on, for some account.
fn subject_of(event_type: EventType, prefix: &str) -> String {
    let mut envelope = Envelope::new(
        "/test",
        "acct_0123",
        None,
        &AccountCreated {
            account_id: "acct_0123".into(),
            name: "n".into(),
        },
    );
    envelope.event_type = event_type.as_str().to_owned();
    envelope.subject_under(prefix)
}

#[test]
fn every_event_type_has_one_publisher_and_every_service_with_an_outbox_or_consumer_announces_dead_letters() {
    for event_type in EventType::ALL {
        let publishers: Vec<&str> = SERVICES
            .iter()
            .filter(|access| access.publishes.contains(event_type))
            .map(|access| access.service)
            .collect();
        if *event_type == EventType::EventDeadLettered {
            let expected: Vec<&str> = SERVICES
                .iter()
                .filter(|access| access.source.is_some() || !access.durables.is_empty())
                .map(|access| access.service)
                .collect();
            assert_eq!(publishers, expected);
        } else {
            assert_eq!(publishers.len(), 1, "{event_type} is published by {publishers:?}");
        }
    }
}

#[test]
fn names_sources_durables_and_patterns_are_distinct_and_valid() {
    let services: BTreeSet<&str> = SERVICES.iter().map(|access| access.service).collect();
    assert_eq!(services.len(), SERVICES.len());
    let sources: Vec<&str> = SERVICES.iter().filter_map(|access| access.source).collect();
    assert_eq!(sources.iter().collect::<BTreeSet<_>>().len(), sources.len());
    let durables: Vec<&str> = SERVICES
        .iter()
        .flat_map(|access| access.durables.iter().map(|durable| durable.name))
        .collect();
    assert_eq!(durables.iter().collect::<BTreeSet<_>>().len(), durables.len());
    for access in SERVICES {
        let patterns = access
            .live
            .iter()
            .chain(access.replays)
            .chain(access.durables.iter().filter_map(|durable| durable.filter.as_ref()));
        for pattern in patterns {
            assert!(EventFilter::event_type(pattern).is_valid(), "{pattern}");
        }
    }
    assert_eq!(of("oauth").map(|access| access.source), Some(Some("/latchkey/oauth")));
    assert!(of("nobody").is_none());
}

#[test]
fn an_outbox_writes_only_its_own_services_event_types() {
    assert_eq!(check_publish("/latchkey/agent-token", "token.issued"), Ok(()));
    assert_eq!(check_publish("/latchkey/agent-token", "event.dead_lettered"), Ok(()));
    let refused = check_publish("/latchkey/webhook", "token.revoked").unwrap_err();
    assert_eq!(
        refused,
        NotPublished {
            service: "webhook",
            event_type: "token.revoked".into()
        }
    );
    assert!(refused.to_string().contains("webhook does not publish token.revoked"));
    // Unknown types are no one's.
    assert!(check_publish("/latchkey/agent-token", "token.*").is_err());
    // Tests and tools name sources of their own.
    assert_eq!(check_publish("/latchkey/test", "token.revoked"), Ok(()));
}

#[test]
fn a_service_may_publish_on_exactly_its_own_event_subjects() {
    for access in SERVICES {
        let permissions = nats_permissions(access, "lk");
        for event_type in EventType::ALL {
            let subject = subject_of(*event_type, "lk");
            assert_eq!(
                allows(&permissions.publish, &subject),
                access.publishes.contains(event_type),
                "{} on {subject}",
                access.service
            );
        }
        // Nothing beyond one account's one type: no wildcard publishing, no other prefix.
        for subject in ["lk.events.>", "lk.events.*.>", "other.events.acct_0123.token.issued"] {
            assert!(
                !allows(&permissions.publish, subject),
                "{} on {subject}",
                access.service
            );
        }
    }
}

#[test]
fn the_gateway_replays_and_follows_only_its_own_filters_and_reads_only_its_own_replies() {
    let gateway = nats_permissions(of("gateway").unwrap(), "lk");
    for subject in [
        "$JS.API.CONSUMER.CREATE.LK_EVENTS.replay-1.lk.events.*.token.revoked",
        "$JS.API.CONSUMER.INFO.LK_EVENTS.replay-1",
        "$JS.API.CONSUMER.MSG.NEXT.LK_EVENTS.replay-1",
        "$JS.API.CONSUMER.DELETE.LK_EVENTS.replay-1",
    ] {
        assert!(allows(&gateway.publish, subject), "{subject}");
        assert!(!allows(&gateway.publish_deny, subject), "{subject}");
    }
    // The whole stream, another filter, or a consumer without its filter in the subject: no.
    for subject in [
        "$JS.API.CONSUMER.CREATE.LK_EVENTS.replay-1",
        "$JS.API.CONSUMER.CREATE.LK_EVENTS.replay-1.lk.events.*.policy.created",
        "$JS.API.CONSUMER.CREATE.LK_EVENTS",
        "$JS.API.CONSUMER.DURABLE.CREATE.LK_EVENTS.audit",
        "$JS.API.STREAM.DELETE.LK_EVENTS",
        "$JS.API.STREAM.PURGE.LK_EVENTS",
        "$JS.API.STREAM.MSG.GET.LK_EVENTS",
        "$JS.API.DIRECT.GET.LK_EVENTS",
        "$JS.ACK.LK_EVENTS.audit.1.1.1.1.0",
    ] {
        assert!(!allows(&gateway.publish, subject), "{subject}");
    }
    // Another service's durable, by a wildcard that would otherwise allow it: denied.
    for subject in [
        "$JS.API.CONSUMER.MSG.NEXT.LK_EVENTS.audit",
        "$JS.API.CONSUMER.INFO.LK_EVENTS.oauth-user-deletions",
        "$JS.API.CONSUMER.DELETE.LK_EVENTS.webhook",
        "$JS.API.CONSUMER.CREATE.LK_EVENTS.audit.lk.events.*.token.revoked",
    ] {
        assert!(allows(&gateway.publish, subject), "{subject} is matched by a wildcard");
        assert!(allows(&gateway.publish_deny, subject), "{subject} is not denied");
    }
    assert_eq!(
        gateway.subscribe,
        [
            "_INBOX.gateway.>",
            "lk.events.*.api_key.*",
            "lk.events.*.service_key.*",
            "lk.events.*.billing.*"
        ]
    );
    assert!(!allows(&gateway.subscribe, "_INBOX.audit.x.1"));
}

#[test]
fn a_consumer_service_uses_its_durable_by_name_with_its_filter() {
    let oauth = nats_permissions(of("oauth").unwrap(), "latchkey");
    for subject in [
        "$JS.API.STREAM.INFO.LATCHKEY_EVENTS",
        "$JS.API.STREAM.CREATE.LATCHKEY_EVENTS",
        "$JS.API.STREAM.UPDATE.LATCHKEY_EVENTS",
        "$JS.API.CONSUMER.CREATE.LATCHKEY_EVENTS.oauth-user-deletions.latchkey.events.*.user.deleted",
        "$JS.API.CONSUMER.INFO.LATCHKEY_EVENTS.oauth-user-deletions",
        "$JS.API.CONSUMER.MSG.NEXT.LATCHKEY_EVENTS.oauth-user-deletions",
        "$JS.ACK.LATCHKEY_EVENTS.oauth-user-deletions.1.5.5.1700000000.0",
    ] {
        assert!(allows(&oauth.publish, subject), "{subject}");
    }
    for subject in [
        "$JS.API.CONSUMER.CREATE.LATCHKEY_EVENTS.oauth-user-deletions",
        "$JS.API.CONSUMER.CREATE.LATCHKEY_EVENTS.oauth-user-deletions.latchkey.events.>",
        "$JS.API.CONSUMER.MSG.NEXT.LATCHKEY_EVENTS.audit",
        "$JS.ACK.LATCHKEY_EVENTS.audit.1.5.5.1700000000.0",
        "_INBOX.oauth.x",
    ] {
        assert!(!allows(&oauth.publish, subject), "{subject}");
    }
    assert!(oauth.publish_deny.is_empty(), "no wildcard to guard");
    assert_eq!(oauth.subscribe, ["_INBOX.oauth.>"]);
    assert_eq!(inbox_prefix("oauth"), "_INBOX.oauth");
}
