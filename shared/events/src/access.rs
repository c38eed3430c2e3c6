//! Who does what on the bus: for each service of the mesh, the event types it publishes and what it
//! reads. A consumer trusts an event's type and account because the subject it came on says the
//! same (`nats`) and only the service that owns that type may publish on it: on NATS each service
//! connects as its own user, whose permissions are made from this table ([`nats_permissions`],
//! printed as a server configuration by `latchkey nats-config`; docs/operations.md).
//!
//! The table cannot drift from the code unnoticed: an outbox refuses an event type its service does
//! not publish here ([`check_publish`]), and a broker with these permissions refuses a service any
//! other subscription or consumer, which the bus logs as an error (`nats/connection.rs`); the
//! process meshes of the tests run on such a broker and fail on any violation in its log
//! (`tests/it/nats_auth.rs`).

use crate::EventType::{self, *};

mod nats_permissions;

pub use nats_permissions::{NatsPermissions, inbox_prefix, nats_permissions};

pub use crate::nats::stream_name;

/// What one service does on the bus.
#[derive(Debug)]
pub struct ServiceAccess {
    /// The service's name, as `latchkey serve` takes it; also its NATS user's name.
    pub service: &'static str,
    /// The `source` of its outbox, when it has one (its events' `source`).
    pub source: Option<&'static str>,
    /// The event types it publishes: through its outbox, or a consumer's dead-letter announcement.
    pub publishes: &'static [EventType],
    /// Its durable consumers.
    pub durables: &'static [Durable],
    /// Event type patterns it follows live (`EventBus::live`, e.g. `LiveFeed`).
    pub live: &'static [&'static str],
    /// Event type patterns it replays and follows (`EventBus::replay`, e.g. `run_projection`).
    pub replays: &'static [&'static str],
}

/// A durable consumer: its name and the event type pattern it takes (`None`: every event).
#[derive(Debug)]
pub struct Durable {
    pub name: &'static str,
    pub filter: Option<&'static str>,
}

/// The revocations every token verifier replays (`latchkey_tokens::follow_revocations`).
const REVOCATIONS: &[&str] = &["token.revoked", "agent.revoked"];

/// Every service of the mesh, in the order of `latchkey serve`'s list.
pub const SERVICES: &[ServiceAccess] = &[
    ServiceAccess {
        service: "gateway",
        source: None,
        publishes: &[],
        durables: &[],
        live: &["api_key.*", "service_key.*", "billing.*"],
        replays: REVOCATIONS,
    },
    ServiceAccess {
        service: "agent-token",
        source: Some("/latchkey/agent-token"),
        publishes: &[
            AccountCreated,
            ApiKeyCreated,
            ApiKeyDeleted,
            CertificateCreated,
            CertificateRevoked,
            CertificateDeleted,
            ConsoleSessionStarted,
            ConsoleSessionEnded,
            AgentCreated,
            AgentPaused,
            AgentResumed,
            AgentRevoked,
            TokenIssued,
            TokenDelegated,
            TokenDenied,
            TokenRevoked,
            TokenUsed,
            BillingPlanUpgraded,
            BillingPlanChanged,
            DomainCreated,
            DomainVerified,
            DomainFailed,
            DomainDeleted,
            EventDeadLettered,
        ],
        durables: &[],
        live: &[],
        replays: REVOCATIONS,
    },
    ServiceAccess {
        service: "audit",
        source: None,
        publishes: &[EventDeadLettered],
        durables: &[Durable {
            name: "audit",
            filter: None,
        }],
        live: &[],
        replays: &[],
    },
    ServiceAccess {
        service: "policy",
        source: Some("/latchkey/policy"),
        publishes: &[
            PolicyCreated,
            PolicyUpdated,
            PolicyDeactivated,
            ApprovalRequested,
            ApprovalApproved,
            ApprovalDenied,
            PolicySettingsUpdated,
            EventDeadLettered,
        ],
        durables: &[],
        live: &["policy.*"],
        replays: &[],
    },
    ServiceAccess {
        service: "vault",
        source: Some("/latchkey/vault"),
        publishes: &[CredentialUpdated, EventDeadLettered],
        durables: &[],
        live: &[],
        replays: &[],
    },
    ServiceAccess {
        service: "oauth",
        source: Some("/latchkey/oauth"),
        publishes: &[
            ConnectionCreated,
            ConnectionRefreshed,
            ConnectionRefreshFailed,
            ConnectionRevoked,
            CredentialUsed,
            OauthAppUpdated,
            EventDeadLettered,
        ],
        durables: &[Durable {
            name: "oauth-user-deletions",
            filter: Some("user.deleted"),
        }],
        live: &[],
        replays: &[],
    },
    ServiceAccess {
        service: "webhook",
        source: Some("/latchkey/webhook"),
        publishes: &[
            EndpointCreated,
            EndpointDeleted,
            EndpointSecretRotated,
            EndpointFailing,
            EndpointDisabled,
            EndpointRecovered,
            EndpointEnabled,
            EventDeadLettered,
        ],
        durables: &[Durable {
            name: "webhook",
            filter: None,
        }],
        live: &[],
        replays: &[],
    },
    ServiceAccess {
        service: "directory",
        source: Some("/latchkey/directory"),
        publishes: &[
            OrganizationCreated,
            OrganizationUpdated,
            OrganizationDeleted,
            ServiceCreated,
            ServiceUpdated,
            ServiceDeleted,
            ServiceKeyCreated,
            ServiceKeyDeleted,
            UserCreated,
            UserUpdated,
            UserDeleted,
            SubscriptionCreated,
            SubscriptionUpdated,
            SubscriptionCanceled,
            EventDeadLettered,
        ],
        durables: &[],
        live: &[],
        replays: &[],
    },
];

/// The access of `service` (`"agent-token"`), if it is one of the mesh's.
pub fn of(service: &str) -> Option<&'static ServiceAccess> {
    SERVICES.iter().find(|access| access.service == service)
}

/// An outbox of a service writing an event type that service does not publish: NATS would refuse
/// it, so it is refused here already, where the caller learns of it.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{service} does not publish {event_type} events (latchkey_events::access::SERVICES)")]
pub struct NotPublished {
    pub service: &'static str,
    pub event_type: String,
}

/// Whether the outbox of `source` may write an event of `event_type`: always for a source that is
/// no service's (tests and tools name their own).
pub fn check_publish(source: &str, event_type: &str) -> Result<(), NotPublished> {
    let Some(access) = SERVICES.iter().find(|access| access.source == Some(source)) else {
        return Ok(());
    };
    if access
        .publishes
        .iter()
        .any(|published| published.as_str() == event_type)
    {
        Ok(())
    } else {
        Err(NotPublished {
            service: access.service,
            event_type: event_type.to_owned(),
        })
    }
}

#[cfg(test)]
mod tests;
