//! Every event type Latchkey emits, in one place. Names are dotted (`token.issued`) and double as
//! the last tokens of the NATS subject. Payloads carry ids and metadata, never secrets.

use serde::{Deserialize, Serialize};

mod directory;
pub use directory::*;

macro_rules! catalogue {
    ($($variant:ident => $name:literal),+ $(,)?) => {
        /// A domain event type.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum EventType { $($variant),+ }

        impl EventType {
            pub const ALL: &'static [EventType] = &[$(EventType::$variant),+];

            pub const fn as_str(self) -> &'static str {
                match self { $(EventType::$variant => $name),+ }
            }

            pub fn parse(name: &str) -> Option<Self> {
                match name { $($name => Some(EventType::$variant),)+ _ => None }
            }
        }
    };
}

catalogue! {
    AccountCreated => "account.created",
    ApiKeyCreated => "api_key.created",
    ApiKeyDeleted => "api_key.deleted",
    CertificateCreated => "certificate.created",
    CertificateRevoked => "certificate.revoked",
    CertificateDeleted => "certificate.deleted",
    ConsoleSessionStarted => "console.session_started",
    ConsoleSessionEnded => "console.session_ended",
    AgentCreated => "agent.created",
    AgentPaused => "agent.paused",
    AgentResumed => "agent.resumed",
    AgentRevoked => "agent.revoked",
    TokenIssued => "token.issued",
    TokenDelegated => "token.delegated",
    TokenDenied => "token.denied",
    TokenRevoked => "token.revoked",
    TokenUsed => "token.used",
    PolicyCreated => "policy.created",
    PolicyUpdated => "policy.updated",
    PolicyDeactivated => "policy.deactivated",
    ApprovalRequested => "approval.requested",
    ApprovalApproved => "approval.approved",
    ApprovalDenied => "approval.denied",
    PolicySettingsUpdated => "policy.settings_updated",
    ConnectionCreated => "connection.created",
    ConnectionRefreshed => "connection.refreshed",
    ConnectionRefreshFailed => "connection.refresh_failed",
    ConnectionRevoked => "connection.revoked",
    CredentialUpdated => "credential.updated",
    CredentialUsed => "credential.used",
    OauthAppUpdated => "oauth_app.updated",
    BillingPlanUpgraded => "billing.plan_upgraded",
    BillingPlanChanged => "billing.plan_changed",
    EndpointCreated => "endpoint.created",
    EndpointDeleted => "endpoint.deleted",
    EndpointSecretRotated => "endpoint.secret_rotated",
    EndpointFailing => "endpoint.failing",
    EndpointDisabled => "endpoint.disabled",
    EndpointRecovered => "endpoint.recovered",
    EndpointEnabled => "endpoint.enabled",
    EventDeadLettered => "event.dead_lettered",
    DomainCreated => "domain.created",
    DomainVerified => "domain.verified",
    DomainFailed => "domain.failed",
    DomainDeleted => "domain.deleted",
    OrganizationCreated => "organization.created",
    OrganizationUpdated => "organization.updated",
    OrganizationDeleted => "organization.deleted",
    ServiceCreated => "service.created",
    ServiceUpdated => "service.updated",
    ServiceDeleted => "service.deleted",
    ServiceKeyCreated => "service_key.created",
    ServiceKeyDeleted => "service_key.deleted",
    UserCreated => "user.created",
    UserUpdated => "user.updated",
    UserDeleted => "user.deleted",
    SubscriptionCreated => "subscription.created",
    SubscriptionUpdated => "subscription.updated",
    SubscriptionCanceled => "subscription.canceled",
}

impl std::fmt::Display for EventType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A payload with its place in the catalogue.
pub trait DomainEvent: Serialize {
    const TYPE: EventType;
    /// The id of the resource the event is about.
    fn subject(&self) -> Option<String>;
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountCreated {
    pub account_id: String,
    pub name: String,
}

impl DomainEvent for AccountCreated {
    const TYPE: EventType = EventType::AccountCreated;
    fn subject(&self) -> Option<String> {
        Some(self.account_id.clone())
    }
}

/// An account moved to a plan that allows at least as much of everything and more of something.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlanUpgraded {
    pub account_id: String,
    pub from_plan: String,
    pub to_plan: String,
}

impl DomainEvent for PlanUpgraded {
    const TYPE: EventType = EventType::BillingPlanUpgraded;
    fn subject(&self) -> Option<String> {
        Some(self.account_id.clone())
    }
}

/// An account moved to any other plan (a downgrade, or a trade of one limit for another).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlanChanged {
    pub account_id: String,
    pub from_plan: String,
    pub to_plan: String,
}

impl DomainEvent for PlanChanged {
    const TYPE: EventType = EventType::BillingPlanChanged;
    fn subject(&self) -> Option<String> {
        Some(self.account_id.clone())
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiKeyCreated {
    pub key_id: String,
    pub name: String,
    pub prefix: String,
    pub last4: String,
}

impl DomainEvent for ApiKeyCreated {
    const TYPE: EventType = EventType::ApiKeyCreated;
    fn subject(&self) -> Option<String> {
        Some(self.key_id.clone())
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiKeyDeleted {
    pub key_id: String,
    /// SHA-256 of the key's secret, hex: what caches index by, so they can drop it without ever
    /// having held the secret. A hash of a 190-bit random secret reveals nothing usable.
    pub secret_hash: String,
}

impl DomainEvent for ApiKeyDeleted {
    const TYPE: EventType = EventType::ApiKeyDeleted;
    fn subject(&self) -> Option<String> {
        Some(self.key_id.clone())
    }
}

/// A signing certificate was created. Never its private key (which Latchkey does not keep) nor
/// its public key (published at `/certificates/public/{kid}`): its ids, name, algorithm, expiry
/// and metadata.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CertificateCreated {
    pub certificate_id: String,
    pub kid: String,
    pub name: String,
    /// `RS256`, `RS384`, `RS512`, `ES256` or `EdDSA`.
    pub algorithm: String,
    /// When it stops authenticating, Unix milliseconds.
    pub expires_at_ms: i64,
    pub metadata: std::collections::BTreeMap<String, String>,
}

impl DomainEvent for CertificateCreated {
    const TYPE: EventType = EventType::CertificateCreated;
    fn subject(&self) -> Option<String> {
        Some(self.certificate_id.clone())
    }
}

/// A certificate was revoked: from `at_ms` on, no JWT it signed is accepted and its public key is
/// no longer published. Enforced where the certificate is stored (agent-token checks it on every
/// JWT), so no consumer needs this event to refuse its JWTs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CertificateRevoked {
    pub certificate_id: String,
    pub kid: String,
    pub at_ms: i64,
}

impl DomainEvent for CertificateRevoked {
    const TYPE: EventType = EventType::CertificateRevoked;
    fn subject(&self) -> Option<String> {
        Some(self.certificate_id.clone())
    }
}

/// A revoked certificate was deleted for good.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CertificateDeleted {
    pub certificate_id: String,
    pub kid: String,
}

impl DomainEvent for CertificateDeleted {
    const TYPE: EventType = EventType::CertificateDeleted;
    fn subject(&self) -> Option<String> {
        Some(self.certificate_id.clone())
    }
}

/// A person signed in to the web console with an account credential (docs/console.md): a
/// server-side session began. Never its token: the session's id and who signed in (the envelope's
/// actor too).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsoleSessionStarted {
    pub session_id: String,
    /// The API key (`key_…`) or certificate (`cert_…`) that signed in.
    pub actor_id: String,
}

impl DomainEvent for ConsoleSessionStarted {
    const TYPE: EventType = EventType::ConsoleSessionStarted;
    fn subject(&self) -> Option<String> {
        Some(self.session_id.clone())
    }
}

/// Console sessions were ended by a person signing out: the one they signed out of, first, and with
/// `signed_out_everywhere` every other session of the account. A session that expired, or whose
/// credential was deleted or revoked, ends without an event.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsoleSessionEnded {
    pub session_ids: Vec<String>,
    /// `signed_out` or `signed_out_everywhere`.
    pub reason: String,
}

impl DomainEvent for ConsoleSessionEnded {
    const TYPE: EventType = EventType::ConsoleSessionEnded;
    fn subject(&self) -> Option<String> {
        self.session_ids.first().cloned()
    }
}

/// An agent identity was created.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentCreated {
    pub agent_id: String,
    pub name: String,
    pub owner: String,
    pub model_provider: Option<String>,
    pub model_name: Option<String>,
    pub framework: Option<String>,
}

impl DomainEvent for AgentCreated {
    const TYPE: EventType = EventType::AgentCreated;
    fn subject(&self) -> Option<String> {
        Some(self.agent_id.clone())
    }
}

macro_rules! agent_status_event {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
        pub struct $name {
            pub agent_id: String,
            /// When the change took effect, Unix milliseconds. For a revocation: every token of
            /// the agent issued at or before this instant is invalid.
            pub at_ms: i64,
        }

        impl DomainEvent for $name {
            const TYPE: EventType = EventType::$name;
            fn subject(&self) -> Option<String> {
                Some(self.agent_id.clone())
            }
        }
    };
}

agent_status_event!(
    /// An agent was paused: it gets no new tokens until resumed.
    AgentPaused
);
agent_status_event!(
    /// A paused agent was resumed.
    AgentResumed
);
agent_status_event!(
    /// An agent was revoked, for good: all of its tokens are invalid at once.
    AgentRevoked
);

/// An agent token was issued. Never the token itself: its id, subject and grant.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenIssued {
    pub jti: String,
    pub agent_id: String,
    pub scope: Vec<String>,
    pub audience: String,
    /// Unix seconds.
    pub expires_at: i64,
    pub intent: Option<String>,
    /// For a delegated token, the id of the token it was delegated from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delegated_from: Option<String>,
}

impl DomainEvent for TokenIssued {
    const TYPE: EventType = EventType::TokenIssued;
    fn subject(&self) -> Option<String> {
        Some(self.jti.clone())
    }
}

/// A token was delegated to a sub-agent (`POST /v1/tokens/delegate`), after the account's policies
/// allowed it for the sub-agent. Never the token itself.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenDelegated {
    /// The new token's id.
    pub jti: String,
    /// The sub-agent it is for.
    pub agent_id: String,
    /// The agent that delegated, and the token it delegated from.
    pub delegated_by: String,
    pub parent_jti: String,
    pub scope: Vec<String>,
    pub audience: String,
    /// Unix seconds.
    pub expires_at: i64,
    pub intent: Option<String>,
    /// How many delegations deep the new token is (1: delegated from an issued token).
    pub depth: u32,
}

impl DomainEvent for TokenDelegated {
    const TYPE: EventType = EventType::TokenDelegated;
    fn subject(&self) -> Option<String> {
        Some(self.jti.clone())
    }
}

/// An agent token was revoked: every verifier rejects it from now on.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenRevoked {
    pub jti: String,
    pub agent_id: String,
    /// The token's own expiry, unix seconds: after it, the revocation need not be remembered.
    pub expires_at: i64,
}

impl DomainEvent for TokenRevoked {
    const TYPE: EventType = EventType::TokenRevoked;
    fn subject(&self) -> Option<String> {
        Some(self.jti.clone())
    }
}

/// A policy was created. Its rules stay with the policy service; the event names the policy.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicyCreated {
    pub policy_id: String,
    pub name: String,
    pub priority: i64,
    pub is_active: bool,
    pub rule_count: usize,
}

impl DomainEvent for PolicyCreated {
    const TYPE: EventType = EventType::PolicyCreated;
    fn subject(&self) -> Option<String> {
        Some(self.policy_id.clone())
    }
}

/// A policy changed (including being switched back on). A change that only switches it off is a
/// [`PolicyDeactivated`] instead.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicyUpdated {
    pub policy_id: String,
    pub name: String,
    pub priority: i64,
    pub is_active: bool,
    /// The fields the update changed, by their API names (`name`, `rules`, `is_active`, …).
    pub changed: Vec<String>,
}

impl DomainEvent for PolicyUpdated {
    const TYPE: EventType = EventType::PolicyUpdated;
    fn subject(&self) -> Option<String> {
        Some(self.policy_id.clone())
    }
}

/// A policy was switched off (`is_active` went from true to false): evaluation ignores it from now on.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicyDeactivated {
    pub policy_id: String,
    pub name: String,
    pub priority: i64,
}

impl DomainEvent for PolicyDeactivated {
    const TYPE: EventType = EventType::PolicyDeactivated;
    fn subject(&self) -> Option<String> {
        Some(self.policy_id.clone())
    }
}

/// A token request was refused by a policy. The decision id is the envelope's `decisionid`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenDenied {
    pub agent_id: String,
    pub scope: Vec<String>,
    pub audience: String,
    /// The deciding policy; `None` when the account default denied.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rule_index: Option<u32>,
    /// Why, in words (not meant to be parsed).
    pub reason: String,
}

impl DomainEvent for TokenDenied {
    const TYPE: EventType = EventType::TokenDenied;
    fn subject(&self) -> Option<String> {
        Some(self.agent_id.clone())
    }
}

/// An agent used its token at one of Latchkey's own doors (an MCP tool call, a proxied provider
/// call) and the account's policies allowed it. The decision id is the envelope's `decisionid`; a
/// refused use is a `token.denied` naming the same scope.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenUsed {
    pub jti: String,
    pub agent_id: String,
    /// What the agent did, as a scope: `mcp.fetch_token:google`, `proxy.github`.
    pub scope: String,
}

impl DomainEvent for TokenUsed {
    const TYPE: EventType = EventType::TokenUsed;
    fn subject(&self) -> Option<String> {
        Some(self.agent_id.clone())
    }
}

/// A token request was held for approval by a `require_approval` rule. The envelope's `decisionid`
/// is the held issue request's.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApprovalRequested {
    pub approval_id: String,
    pub agent_id: String,
    pub scope: Vec<String>,
    pub audience: String,
    pub policy_id: String,
    pub rule_index: u32,
    /// When the approval expires if nobody decides, Unix milliseconds.
    pub expires_at_ms: i64,
}

impl DomainEvent for ApprovalRequested {
    const TYPE: EventType = EventType::ApprovalRequested;
    fn subject(&self) -> Option<String> {
        Some(self.approval_id.clone())
    }
}

macro_rules! approval_decision_event {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
        pub struct $name {
            pub approval_id: String,
            pub agent_id: String,
            pub scope: Vec<String>,
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub note: Option<String>,
        }

        impl DomainEvent for $name {
            const TYPE: EventType = EventType::$name;
            fn subject(&self) -> Option<String> {
                Some(self.approval_id.clone())
            }
        }
    };
}

approval_decision_event!(
    /// A held token request was approved: it can now yield its token, once.
    ApprovalApproved
);
approval_decision_event!(
    /// A held token request was denied: it never yields a token.
    ApprovalDenied
);

/// An account's policy settings changed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicySettingsUpdated {
    /// `allow` or `deny`: the effect when no active policy matches.
    pub default_effect: String,
}

impl DomainEvent for PolicySettingsUpdated {
    const TYPE: EventType = EventType::PolicySettingsUpdated;
    fn subject(&self) -> Option<String> {
        None
    }
}

/// A provider credential (an API key kept in the vault) was written or removed. Never the key, nor
/// any part of it: which provider, its new version, and whether it is write-only.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CredentialUpdated {
    /// The provider code (`openai`, `anthropic`, …).
    pub provider: String,
    /// The version now stored; 0 when the credential was removed.
    pub version: u64,
    pub write_only: bool,
    /// True when the credential was removed rather than written.
    #[serde(default)]
    pub removed: bool,
}

impl DomainEvent for CredentialUpdated {
    const TYPE: EventType = EventType::CredentialUpdated;
    fn subject(&self) -> Option<String> {
        Some(self.provider.clone())
    }
}

/// A provider call went through the credential proxy (`/proxy/{provider}/{service}/…`) with the
/// account's credential injected. Never the credential, the query or the body: the provider, the
/// service, the method, the path as the catalogue's template would write it, and the upstream's status.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CredentialUsed {
    pub provider: String,
    pub service: String,
    pub method: String,
    /// The path below the service's base URL, with every segment that looks like an id replaced
    /// by `{id}`, so the log groups calls without keeping what the agent looked up.
    pub path_template: String,
    /// The upstream's HTTP status; 0 when it could not be reached.
    pub status: u16,
    /// The agent that called, when an agent token authenticated the call.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_id: Option<String>,
}

impl DomainEvent for CredentialUsed {
    const TYPE: EventType = EventType::CredentialUsed;
    fn subject(&self) -> Option<String> {
        Some(self.provider.clone())
    }
}

/// An account registered, replaced or removed its own OAuth app for a provider (the client secret
/// is in the vault). Never the secret, nor any part of it: the provider and the public client id.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OauthAppUpdated {
    /// The provider code (`google`, `microsoft`, …).
    pub provider: String,
    /// The app's client id (public: it is in every authorization URL); empty when removed.
    pub client_id: String,
    /// True when the app was removed: the deployment's app is used again.
    #[serde(default)]
    pub removed: bool,
}

impl DomainEvent for OauthAppUpdated {
    const TYPE: EventType = EventType::OauthAppUpdated;
    fn subject(&self) -> Option<String> {
        Some(self.provider.clone())
    }
}

macro_rules! endpoint_event {
    ($(#[$doc:meta])* $name:ident { $($(#[$fdoc:meta])* $field:ident: $ty:ty),* $(,)? }) => {
        $(#[$doc])*
        #[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
        pub struct $name {
            pub endpoint_id: String,
            pub url: String,
            $($(#[$fdoc])* pub $field: $ty,)*
        }

        impl DomainEvent for $name {
            const TYPE: EventType = EventType::$name;
            fn subject(&self) -> Option<String> {
                Some(self.endpoint_id.clone())
            }
        }
    };
}

endpoint_event!(
    /// A webhook endpoint was registered. Never its secret.
    EndpointCreated { events: Vec<String> }
);
endpoint_event!(
    /// A webhook endpoint was removed, with every message still waiting for it.
    EndpointDeleted {}
);
endpoint_event!(
    /// A webhook endpoint's signing secret was replaced; the previous one signs until `previous_expires_at_ms`.
    EndpointSecretRotated { previous_expires_at_ms: i64 }
);
endpoint_event!(
    /// Every delivery to the endpoint has failed since `failing_since_ms`: it will be disabled at
    /// `disable_at_ms` unless a delivery succeeds first.
    EndpointFailing { failing_since_ms: i64, disable_at_ms: i64 }
);
endpoint_event!(
    /// The endpoint was disabled: it answered 410 Gone (`reason` "gone") or failed for too long ("failing").
    EndpointDisabled { reason: String }
);
endpoint_event!(
    /// A delivery to an endpoint that had been reported failing succeeded again.
    EndpointRecovered { failing_since_ms: i64 }
);
endpoint_event!(
    /// The account enabled a disabled endpoint again (by API, not by a delivery healing it):
    /// `previous_reason` is why it had been disabled (gone, failing). Messages that failed while
    /// it was disabled are not sent again by this; a replay does that.
    EndpointEnabled { previous_reason: String }
);

/// An OAuth connection was made (or made again): its tokens are in the vault, never here.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConnectionCreated {
    pub connection_id: String,
    pub provider: String,
    /// The end user the connection is for; empty for the account itself.
    pub end_user_id: String,
    pub scopes: Vec<String>,
    pub provider_email: String,
}

impl DomainEvent for ConnectionCreated {
    const TYPE: EventType = EventType::ConnectionCreated;
    fn subject(&self) -> Option<String> {
        Some(self.connection_id.clone())
    }
}

/// A connection's access token was refreshed at the provider (exactly once per refresh).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConnectionRefreshed {
    pub connection_id: String,
    pub provider: String,
    /// When the new access token expires (Unix ms; 0 when the provider gave no lifetime).
    pub expires_at_ms: i64,
    /// Whether the provider issued a new refresh token.
    pub refresh_token_rotated: bool,
}

impl DomainEvent for ConnectionRefreshed {
    const TYPE: EventType = EventType::ConnectionRefreshed;
    fn subject(&self) -> Option<String> {
        Some(self.connection_id.clone())
    }
}

/// The provider refused a connection's refresh: the user must authorize again.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConnectionRefreshFailed {
    pub connection_id: String,
    pub provider: String,
    /// The provider's OAuth error code (`invalid_grant`, …) or `no_refresh_token`.
    pub reason: String,
}

impl DomainEvent for ConnectionRefreshFailed {
    const TYPE: EventType = EventType::ConnectionRefreshFailed;
    fn subject(&self) -> Option<String> {
        Some(self.connection_id.clone())
    }
}

/// A connection was disconnected; its tokens are deleted from the vault.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConnectionRevoked {
    pub connection_id: String,
    pub provider: String,
    pub end_user_id: String,
    /// Whether the provider confirmed the revocation of the grant.
    pub revoked_at_provider: bool,
}

impl DomainEvent for ConnectionRevoked {
    const TYPE: EventType = EventType::ConnectionRevoked;
    fn subject(&self) -> Option<String> {
        Some(self.connection_id.clone())
    }
}

/// An event that kept failing was moved to a dead-letter table (docs/events.md): the relay could not
/// publish it, or a consumer could not handle it. Names the dead event, never its data. Emitted under
/// the dead event's account; never emitted for a dead `event.dead_lettered`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventDeadLettered {
    pub event_id: String,
    pub event_type: String,
    pub account: String,
    /// Where it died: `relay:<source>` or `consumer:<name>`.
    pub location: String,
    /// How many times it was tried.
    pub tries: u32,
}

impl DomainEvent for EventDeadLettered {
    const TYPE: EventType = EventType::EventDeadLettered;
    fn subject(&self) -> Option<String> {
        Some(self.event_id.clone())
    }
}

/// An account claimed a domain: it proves control by publishing a TXT record at `txt_record_name`
/// (the value is in the API's answer, not here).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DomainCreated {
    pub domain_id: String,
    pub domain: String,
    pub txt_record_name: String,
}

impl DomainEvent for DomainCreated {
    const TYPE: EventType = EventType::DomainCreated;
    fn subject(&self) -> Option<String> {
        Some(self.domain_id.clone())
    }
}

/// A DNS check found the domain's TXT record holding its value: the account controls the domain.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DomainVerified {
    pub domain_id: String,
    pub domain: String,
    /// Unix milliseconds.
    pub verified_at_ms: i64,
}

impl DomainEvent for DomainVerified {
    const TYPE: EventType = EventType::DomainVerified;
    fn subject(&self) -> Option<String> {
        Some(self.domain_id.clone())
    }
}

/// A verified domain lapsed (a check found its record gone or changed), or a pending one expired
/// unverified: it is `failed` until a check finds the record again.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DomainFailed {
    pub domain_id: String,
    pub domain: String,
    /// `no_record`, `value_mismatch` (a lapse) or `expired` (never verified in time).
    pub reason: String,
    /// The status it left: `verified` or `pending`.
    pub previous_status: String,
}

impl DomainEvent for DomainFailed {
    const TYPE: EventType = EventType::DomainFailed;
    fn subject(&self) -> Option<String> {
        Some(self.domain_id.clone())
    }
}

/// An account removed a domain claim; if it was verified, it no longer vouches for anything.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DomainDeleted {
    pub domain_id: String,
    pub domain: String,
    /// The status it had: `pending`, `verified` or `failed`.
    pub status: String,
}

impl DomainEvent for DomainDeleted {
    const TYPE: EventType = EventType::DomainDeleted;
    fn subject(&self) -> Option<String> {
        Some(self.domain_id.clone())
    }
}

#[cfg(test)]
mod tests;
