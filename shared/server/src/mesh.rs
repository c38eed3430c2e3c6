//! How services trust each other's calls. Inside a deployed mesh a caller proves which service it is
//! with its certificate (mutual TLS, `tls`), and the callee answers only the methods that service
//! may call (`authorization`); under `latchkey dev`, where every service runs in one process, the
//! calling service is known without a certificate. Without TLS (dev, plaintext test meshes) a
//! caller proves it is a Latchkey service with the shared service token, checked in constant time.
//! Either way the call names the account it acts for, which the callee believes only once the
//! caller is known. External callers use account API keys instead.

use std::{sync::Arc, time::Duration};

use latchkey_ids::AccountId;
use rustls_pki_types::ServerName;
use subtle::ConstantTimeEq;
use tonic::{
    Request, Status,
    metadata::MetadataValue,
    service::{Interceptor, interceptor::InterceptedService},
    transport::Endpoint,
};

/// Metadata naming the account a mesh call acts for.
pub const ACCOUNT_HEADER: &str = "x-latchkey-account";
/// Metadata naming who acts (an API key id, an agent id), recorded as the events' actor.
pub const ACTOR_HEADER: &str = "x-latchkey-actor";
/// Metadata carrying the mesh's service token.
pub const SERVICE_TOKEN_HEADER: &str = "x-latchkey-service-token";

/// How this process is known in the mesh: the shared service token, its identity (the service it
/// is, or `operator`) and its TLS material when the mesh uses mTLS, and the deadlines its calls
/// carry. Its `Debug` never shows the token.
#[derive(Clone)]
pub struct MeshAuth {
    token: Arc<str>,
    identity: Option<&'static str>,
    tls: Option<Arc<MeshTls>>,
    deadlines: MeshDeadlines,
}

/// How long a mesh call may take, by kind (`[mesh] call_timeout_ms`, `long_call_timeout_ms`): a
/// stuck service costs its callers a bounded wait and an UNAVAILABLE (503 at the edge), never a
/// hung request. The caller sends it as `grpc-timeout`, so the callee gives up too.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MeshDeadlines {
    /// Every call but the long ones.
    pub call: Duration,
    /// Calls that wait on a third party (an OAuth provider, a webhook receiver, DNS) or read a
    /// whole chain: [`LONG_CALLS`].
    pub long_call: Duration,
}

impl Default for MeshDeadlines {
    fn default() -> Self {
        Self {
            call: Duration::from_secs(10),
            long_call: Duration::from_secs(25),
        }
    }
}

/// The calls that get [`MeshDeadlines::long_call`], as (gRPC service, method).
pub const LONG_CALLS: &[(&str, &str)] = &[
    ("latchkey.oauth.v1.OauthService", "CompleteCallback"),
    ("latchkey.oauth.v1.OauthService", "ExchangeCode"),
    ("latchkey.oauth.v1.OauthService", "FetchToken"),
    ("latchkey.oauth.v1.OauthService", "OpenProxyCredential"),
    ("latchkey.webhook.v1.WebhookService", "SendTest"),
    ("latchkey.webhook.v1.WebhookService", "Replay"),
    ("latchkey.audit.v1.AuditService", "VerifyChain"),
    ("latchkey.audit.v1.AuditService", "ExportEntries"),
    ("latchkey.audit.v1.AuditService", "GetAnalytics"),
    ("latchkey.agent_token.v1.DomainService", "VerifyDomain"),
];

impl MeshDeadlines {
    /// The deadline of `service`'s `method` (every mesh call asks: no allocation).
    pub fn of(&self, service: &str, method: &str) -> Duration {
        if LONG_CALLS.iter().any(|&(s, m)| s == service && m == method) {
            self.long_call
        } else {
            self.call
        }
    }
}

impl std::fmt::Debug for MeshAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MeshAuth(redacted)")
    }
}

impl MeshAuth {
    pub fn new(token: impl Into<Arc<str>>) -> Self {
        Self {
            token: token.into(),
            identity: None,
            tls: None,
            deadlines: MeshDeadlines::default(),
        }
    }

    /// The same credential for the service `identity` of this process: its calls to servers of
    /// the same process are known to come from it, and authorized as its (`latchkey dev`).
    #[must_use]
    pub fn as_identity(self, identity: &'static str) -> Self {
        Self {
            identity: Some(identity),
            ..self
        }
    }

    /// The same credential over mutual TLS: servers accept only peers with a certificate of the
    /// mesh, clients present `tls`'s certificate, and the identity is the one it names.
    #[must_use]
    pub fn with_tls(self, tls: Arc<MeshTls>) -> Self {
        Self {
            identity: Some(tls.identity()),
            tls: Some(tls),
            ..self
        }
    }

    /// This process's mesh TLS, when the mesh uses it.
    pub fn tls(&self) -> Option<&Arc<MeshTls>> {
        self.tls.as_ref()
    }

    /// Who this process is in the mesh, when it is known.
    pub fn identity(&self) -> Option<&'static str> {
        self.identity
    }

    /// The same credential, its calls carrying `deadlines`.
    #[must_use]
    pub fn with_deadlines(self, deadlines: MeshDeadlines) -> Self {
        Self { deadlines, ..self }
    }

    pub fn deadlines(&self) -> MeshDeadlines {
        self.deadlines
    }

    /// True when the call comes from a service of the mesh: a peer the transport identified (its
    /// certificate, or a service of this process), or one carrying this mesh's service token.
    pub fn is_mesh_call<T>(&self, request: &Request<T>) -> bool {
        if request
            .extensions()
            .get::<MeshPeer>()
            .is_some_and(|peer| peer.identity.is_some())
        {
            return true;
        }
        !self.token.is_empty()
            && request
                .metadata()
                .get(SERVICE_TOKEN_HEADER)
                .map(|presented| bool::from(presented.as_bytes().ct_eq(self.token.as_bytes())))
                .unwrap_or(false)
    }

    /// Refuses a call without this mesh's service token (`UNAUTHENTICATED`), for methods only other
    /// services may call.
    pub fn require_mesh_call<T>(&self, request: &Request<T>) -> Result<(), Status> {
        if self.is_mesh_call(request) {
            Ok(())
        } else {
            Err(Status::unauthenticated("missing or invalid service credential"))
        }
    }

    /// Who a mesh call comes from, once the service token checks out: the account it acts for
    /// (present and non-empty, else `UNAUTHENTICATED`) and who acts, when it says. Every service's
    /// handlers take their caller from here.
    pub fn caller<T>(&self, request: &Request<T>) -> Result<Caller, Status> {
        Ok(Caller {
            account: self.mesh_account(request)?,
            actor: actor_of(request),
        })
    }

    /// The account a mesh call acts for, once the service token checks out.
    pub fn mesh_account<T>(&self, request: &Request<T>) -> Result<AccountId, Status> {
        self.require_mesh_call(request)?;
        let named = request
            .metadata()
            .get(ACCOUNT_HEADER)
            .and_then(|v| v.to_str().ok())
            .filter(|account| !account.is_empty())
            .ok_or_else(|| Status::unauthenticated("mesh call names no account"))?;
        AccountId::parse(named).map_err(|error| Status::unauthenticated(format!("mesh call's account: {error}")))
    }

    pub fn token(&self) -> &str {
        &self.token
    }
}

/// Who a call comes from: the account it acts in, and who acts (an API key id, an agent id), the
/// latter recorded as the actor of the events the call causes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Caller {
    pub account: AccountId,
    pub actor: Option<String>,
}

/// Adds the service token, the call's deadline (unless the caller set one) and the current trace
/// context to every outgoing call; and, for a server of this process, who calls ([`MeshPeer`]:
/// extensions never cross the network, where the server learns it from the certificate).
#[derive(Clone, Debug)]
pub struct MeshInterceptor {
    auth: MeshAuth,
}

impl Interceptor for MeshInterceptor {
    fn call(&mut self, mut request: Request<()>) -> Result<Request<()>, Status> {
        if !self.auth.token.is_empty() {
            let token = MetadataValue::try_from(self.auth.token())
                .map_err(|_| Status::internal("service token is not valid metadata"))?;
            request.metadata_mut().insert(SERVICE_TOKEN_HEADER, token);
        }
        if let Some(identity) = self.auth.identity {
            request.extensions_mut().insert(MeshPeer {
                identity: Some(identity),
            });
        }
        if !request.metadata().contains_key(GRPC_TIMEOUT_HEADER) {
            let deadline = match request.extensions().get::<tonic::GrpcMethod>() {
                Some(method) => self.auth.deadlines.of(method.service(), method.method()),
                None => self.auth.deadlines.call,
            };
            request.set_timeout(deadline);
        }
        if let Some(traceparent) = latchkey_telemetry::current_traceparent()
            && let Ok(value) = MetadataValue::try_from(traceparent.as_str())
        {
            request.metadata_mut().insert("traceparent", value);
        }
        Ok(request)
    }
}

/// How long a mesh channel may take to connect (and, over mTLS, to finish its handshake).
pub(crate) const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

/// The header a call's deadline travels in.
const GRPC_TIMEOUT_HEADER: &str = "grpc-timeout";

/// A channel to a mesh service with the interceptor applied; generated clients wrap it.
pub type MeshChannel = InterceptedService<Replicas, MeshInterceptor>;

/// A lazily connecting channel to the service `callee` (its mesh identity, e.g. `vault`) at
/// `address` (e.g. `http://127.0.0.1:7104`): a service that is down at start-up is reached once it
/// comes up, and calls fail with UNAVAILABLE meanwhile. Several addresses, comma-separated, are
/// replicas of one service: calls go round those that answer, and a call one replica refuses goes
/// to the next ([`Replicas`]). A replica this process serves itself (`latchkey dev`) is called
/// without the network (`in_process`). Over mTLS the callee's certificate must name `callee`.
pub fn connect_to(callee: &str, address: &str, auth: &MeshAuth) -> Result<MeshChannel, tonic::transport::Error> {
    channel(Some(callee), address, auth)
}

/// [`connect_to`] a service known by its address only: over mTLS the callee's certificate must
/// name the address's host.
pub fn connect(address: &str, auth: &MeshAuth) -> Result<MeshChannel, tonic::transport::Error> {
    channel(None, address, auth)
}

fn channel(callee: Option<&str>, address: &str, auth: &MeshAuth) -> Result<MeshChannel, tonic::transport::Error> {
    let channels = address
        .split(',')
        .filter(|a| !a.trim().is_empty())
        .map(|address| {
            let endpoint = Endpoint::from_shared(address.trim().to_owned())?;
            let socket_address = endpoint
                .uri()
                .authority()
                .and_then(|authority| authority.as_str().parse().ok());
            let endpoint = endpoint.tcp_nodelay(true);
            let server_name = callee.or_else(|| endpoint.uri().host()).and_then(|name| {
                ServerName::try_from(name.trim_start_matches('[').trim_end_matches(']').to_owned()).ok()
            });
            let channel = match (&auth.tls, server_name) {
                (Some(tls), Some(name)) => endpoint.connect_with_connector_lazy(TlsConnector::new(tls.clone(), name)),
                // An address without a host is refused the way tonic refuses a malformed one.
                (Some(_), None) => Endpoint::from_shared(String::new())?.connect_lazy(),
                (None, _) => endpoint.connect_timeout(CONNECT_TIMEOUT).connect_lazy(),
            };
            Ok(Replica::new(channel, socket_address))
        })
        .collect::<Result<Vec<_>, tonic::transport::Error>>()?;
    if channels.is_empty() {
        // An empty address is refused the way tonic refuses a malformed one.
        Endpoint::from_shared(String::new())?;
    }
    Ok(InterceptedService::new(
        Replicas::new(channels),
        MeshInterceptor { auth: auth.clone() },
    ))
}

/// A request acting for `account`, on behalf of `actor` (e.g. the API key id that authenticated).
pub fn with_account<T>(message: T, account: &str, actor: Option<&str>) -> Request<T> {
    let mut request = Request::new(message);
    if let Ok(value) = MetadataValue::try_from(account) {
        request.metadata_mut().insert(ACCOUNT_HEADER, value);
    }
    if let Some(actor) = actor
        && let Ok(value) = MetadataValue::try_from(actor)
    {
        request.metadata_mut().insert(ACTOR_HEADER, value);
    }
    request
}

/// The actor a mesh call names, if any.
pub fn actor_of<T>(request: &Request<T>) -> Option<String> {
    request
        .metadata()
        .get(ACTOR_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

mod authorization;
mod identity;
pub(crate) mod in_process;
mod replicas;
mod tls;
pub(crate) use authorization::AuthorizeLayer;
pub use authorization::may_call;
pub use identity::{IDENTITIES, MeshPeer};
pub use replicas::{REFUSED_FOR, Replica, Replicas};
use tls::TlsConnector;
pub(crate) use tls::incoming;
pub use tls::{MeshTls, TlsError, TlsFiles};

#[cfg(test)]
mod tests;
