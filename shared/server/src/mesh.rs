//! How services trust each other's calls. Inside the mesh a caller proves it is a Latchkey service
//! with the shared service token and names the account it acts for; the callee believes the account
//! only after checking the token in constant time. External callers use account API keys instead.

use std::sync::Arc;

use latchkey_ids::AccountId;
use subtle::ConstantTimeEq;
use tonic::{
    Request, Status,
    metadata::MetadataValue,
    service::{Interceptor, interceptor::InterceptedService},
    transport::{Channel, Endpoint},
};

/// Metadata naming the account a mesh call acts for.
pub const ACCOUNT_HEADER: &str = "x-latchkey-account";
/// Metadata naming who acts (an API key id, an agent id), recorded as the events' actor.
pub const ACTOR_HEADER: &str = "x-latchkey-actor";
/// Metadata carrying the mesh's service token.
pub const SERVICE_TOKEN_HEADER: &str = "x-latchkey-service-token";

/// The mesh's shared service token. Its `Debug` never shows it.
#[derive(Clone)]
pub struct MeshAuth {
    token: Arc<str>,
}

impl std::fmt::Debug for MeshAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MeshAuth(redacted)")
    }
}

impl MeshAuth {
    pub fn new(token: impl Into<Arc<str>>) -> Self {
        Self { token: token.into() }
    }

    /// True when the call carries this mesh's service token.
    pub fn is_mesh_call<T>(&self, request: &Request<T>) -> bool {
        request
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

/// Adds the service token and the current trace context to every outgoing call.
#[derive(Clone, Debug)]
pub struct MeshInterceptor {
    auth: MeshAuth,
}

impl Interceptor for MeshInterceptor {
    fn call(&mut self, mut request: Request<()>) -> Result<Request<()>, Status> {
        let token = MetadataValue::try_from(self.auth.token())
            .map_err(|_| Status::internal("service token is not valid metadata"))?;
        request.metadata_mut().insert(SERVICE_TOKEN_HEADER, token);
        if let Some(traceparent) = latchkey_telemetry::current_traceparent()
            && let Ok(value) = MetadataValue::try_from(traceparent.as_str())
        {
            request.metadata_mut().insert("traceparent", value);
        }
        Ok(request)
    }
}

/// A channel to a mesh service with the interceptor applied; generated clients wrap it.
pub type MeshChannel = InterceptedService<Channel, MeshInterceptor>;

/// A lazily connecting channel to `address` (e.g. `http://127.0.0.1:7101`): a service that is down
/// at start-up is reached once it comes up, and calls fail with UNAVAILABLE meanwhile.
pub fn connect(address: &str, auth: &MeshAuth) -> Result<MeshChannel, tonic::transport::Error> {
    let channel = Endpoint::from_shared(address.to_owned())?
        .connect_timeout(std::time::Duration::from_secs(2))
        .tcp_nodelay(true)
        .connect_lazy();
    Ok(InterceptedService::new(channel, MeshInterceptor { auth: auth.clone() }))
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

#[cfg(test)]
mod tests;
