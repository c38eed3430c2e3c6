//! Every kind of id Latchkey mints, with its prefix. Adding a kind here is the only way to get a new
//! prefix, so two kinds cannot share one.

use crate::define_id;

define_id!(
    /// An account: the tenant every other record belongs to; also the deployment's own
    /// [`SYSTEM_ACCOUNT`](crate::SYSTEM_ACCOUNT).
    AccountId, "acct", "account", also [crate::SYSTEM_ACCOUNT]
);

impl AccountId {
    /// The deployment's own account ([`SYSTEM_ACCOUNT`](crate::SYSTEM_ACCOUNT)).
    pub fn system() -> Self {
        Self(crate::SYSTEM_ACCOUNT.to_owned())
    }

    pub fn is_system(&self) -> bool {
        self.0 == crate::SYSTEM_ACCOUNT
    }
}
define_id!(
    /// An account API key (`key_…`); its secret is `lk_live_…` and never an id.
    ApiKeyId, "key", "API key"
);
define_id!(
    /// An agent identity.
    AgentId, "agent", "agent"
);
define_id!(
    /// A policy.
    PolicyId, "pol", "policy"
);
define_id!(
    /// A request held for a person's approval.
    ApprovalId, "apr", "approval"
);
define_id!(
    /// A policy decision, as recorded.
    DecisionId, "dec", "decision"
);
define_id!(
    /// An OAuth connection.
    ConnectionId, "conn", "connection"
);
define_id!(
    /// An OAuth authorization session (`POST /oauth/sessions`, `GET /auth/{provider}`). An
    /// account's own OAuth apps have no id: they are named by their provider.
    OAuthSessionId, "oas", "OAuth session"
);
define_id!(
    /// A connect link (`POST /v1/connect-links`): a single-use URL that starts an authorization in a
    /// browser holding no API key. Its token is a secret, never an id.
    ConnectLinkId, "clink", "connect link"
);
define_id!(
    /// A lease: which oauth instance holds a connection's refresh for now.
    LeaseId, "lease", "lease"
);
define_id!(
    /// A webhook endpoint.
    EndpointId, "whe", "webhook endpoint"
);
define_id!(
    /// A webhook message (one event for one endpoint).
    MessageId, "msg", "webhook message"
);
define_id!(
    /// A webhook delivery attempt.
    AttemptId, "wha", "delivery attempt"
);
define_id!(
    /// A domain an account claims, verified by a DNS TXT record.
    DomainId, "dom", "domain"
);
define_id!(
    /// An event that could not be delivered, parked for an operator.
    DeadLetterId, "dl", "dead letter"
);
define_id!(
    /// A signing certificate: a key pair whose private key only its account holds.
    CertificateId, "cert", "certificate"
);
define_id!(
    /// A certificate's key id, the `kid` of the JWTs it signs and of its public key; the public
    /// name of a certificate, while its [`CertificateId`] is for its account.
    CertificateKid, "kid", "certificate key"
);
define_id!(
    /// An organization of the directory (AuthOS): holds services.
    OrganizationId, "org", "organization"
);
define_id!(
    /// A service of an organization: holds its users, subscriptions and API keys.
    ServiceId, "svc", "service"
);
define_id!(
    /// A service API key (`skey_…`); its secret is `lk_svc_…` and never an id.
    ServiceKeyId, "skey", "service API key"
);
define_id!(
    /// A user of one service.
    ServiceUserId, "usr", "service user"
);
define_id!(
    /// A console session (`cses_…`): a person signed in to the web console. Its token (`lk_cs_…`,
    /// the cookie's value) is a secret, never an id.
    ConsoleSessionId, "cses", "console session"
);
