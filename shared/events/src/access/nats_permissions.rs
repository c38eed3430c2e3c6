//! A service's access as the permissions of its NATS user: the subjects it may publish to and
//! subscribe to under one prefix, exactly as this crate's JetStream bus uses them.
//!
//! - **Events**: publish on `<prefix>.events.*.<type>` for its own types only (`*` is the account).
//! - **The stream**: every service ensures it at start (`$JS.API.STREAM.INFO|CREATE|UPDATE`), so a
//!   deployment needs no set-up step; deleting or purging it is no service's to do.
//! - **Durable consumers**: create, inspect, pull from and acknowledge its own, by name; creating
//!   one is allowed only with the filter it has.
//! - **Replays**: ordered consumers named by the bus, so any name, but only on its own filters (the
//!   filter is part of the create subject); the names of other services' durables are denied.
//! - **Replies**: JetStream answers to the client's inbox, `_INBOX.<service>.…`: a service may read
//!   only its own, not another's deliveries.
//! - **Live**: subscribe on `<prefix>.events.*.<pattern>` for what it follows live.

use super::{SERVICES, ServiceAccess};
use crate::{EventFilter, nats::stream_name};

/// The subjects one service's NATS user may use.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NatsPermissions {
    pub publish: Vec<String>,
    /// Subjects refused even though `publish` would allow them (the server's `deny` wins).
    pub publish_deny: Vec<String>,
    pub subscribe: Vec<String>,
}

/// The inbox prefix of `service`'s NATS client: replies to it come on `<this>.…`.
pub fn inbox_prefix(service: &str) -> String {
    format!("_INBOX.{service}")
}

/// `access` as NATS permissions under `prefix` (the stream `<PREFIX>_EVENTS`).
pub fn nats_permissions(access: &ServiceAccess, prefix: &str) -> NatsPermissions {
    let stream = stream_name(prefix);
    let events = |pattern: &str| EventFilter::event_type(pattern).subject_under(prefix);
    let mut publish: Vec<String> = access.publishes.iter().map(|t| events(t.as_str())).collect();
    publish.extend(["INFO", "CREATE", "UPDATE"].map(|action| format!("$JS.API.STREAM.{action}.{stream}")));
    for durable in access.durables {
        let name = durable.name;
        // As `Durable::open` creates it: the filter subject ends the create subject.
        publish.push(match durable.filter {
            None => format!("$JS.API.CONSUMER.CREATE.{stream}.{name}"),
            Some(pattern) => format!("$JS.API.CONSUMER.CREATE.{stream}.{name}.{}", events(pattern)),
        });
        publish.push(format!("$JS.API.CONSUMER.INFO.{stream}.{name}"));
        publish.push(format!("$JS.API.CONSUMER.MSG.NEXT.{stream}.{name}"));
        publish.push(format!("$JS.ACK.{stream}.{name}.>"));
    }
    let mut publish_deny = Vec::new();
    if !access.replays.is_empty() {
        for pattern in access.replays {
            publish.push(format!("$JS.API.CONSUMER.CREATE.{stream}.*.{}", events(pattern)));
        }
        // The client asks after an ordered consumer when it may have lost it (a broker restart),
        // and deletes one it replaces.
        publish.push(format!("$JS.API.CONSUMER.MSG.NEXT.{stream}.*"));
        publish.push(format!("$JS.API.CONSUMER.INFO.{stream}.*"));
        publish.push(format!("$JS.API.CONSUMER.DELETE.{stream}.*"));
        for other in SERVICES.iter().filter(|other| other.service != access.service) {
            for durable in other.durables {
                let name = durable.name;
                publish_deny.push(format!("$JS.API.CONSUMER.CREATE.{stream}.{name}.>"));
                publish_deny.push(format!("$JS.API.CONSUMER.MSG.NEXT.{stream}.{name}"));
                publish_deny.push(format!("$JS.API.CONSUMER.INFO.{stream}.{name}"));
                publish_deny.push(format!("$JS.API.CONSUMER.DELETE.{stream}.{name}"));
            }
        }
    }
    let inbox = format!("{}.>", inbox_prefix(access.service));
    let mut subscribe = vec![inbox.clone()];
    if !access.live.is_empty() {
        // A live subscription is confirmed by a request to the client's own inbox (`nats/live.rs`).
        publish.push(inbox);
        subscribe.extend(access.live.iter().map(|pattern| events(pattern)));
    }
    NatsPermissions {
        publish,
        publish_deny,
        subscribe,
    }
}
