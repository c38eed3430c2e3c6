//! The authenticated callers, as handlers and the key caches hold them. How a request becomes one
//! is `auth`'s business (or `service_caller`'s); these types are apart from it so the caches can
//! hold them without depending on the extractors that fill them.

use std::sync::Arc;

use latchkey_ids::AccountId;

/// The authenticated caller: an account, acting through one of its API keys or certificates, on
/// its plan. A clone copies the account id (a short string) and shares the key id and plan.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Principal {
    pub account_id: AccountId,
    /// The API key's id (`key_…`), or the certificate's (`cert_…`) when a certificate JWT
    /// authenticated the request: the actor of what it does, and its rate-limit key.
    pub api_key_id: Arc<str>,
    /// The account's plan, named in every mesh call for the account: each service checks the
    /// plan's limits on what it owns.
    pub plan: Arc<str>,
}

impl Principal {
    /// A mesh request acting for this account, with this key as the actor recorded in events.
    pub(crate) fn grpc_request<T>(&self, message: T) -> tonic::Request<T> {
        let request = latchkey_server::with_account(message, self.account_id.as_str(), Some(&self.api_key_id));
        latchkey_server::with_plan(request, &self.plan)
    }
}

/// A caller of the service API (`/api/service/*`): the account, the one service it acts for, who
/// acts (a service key's id, or the account key's or certificate's), and whether it may change
/// anything. How a request becomes one is `service_caller`'s business.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ServiceCaller {
    pub(crate) account_id: AccountId,
    /// `svc_…`.
    pub(crate) service_id: Arc<str>,
    /// `skey_…` for a service key; the account credential's id otherwise. The rate-limit key.
    pub(crate) actor: Arc<str>,
    pub(crate) plan: Arc<str>,
    /// False for a key holding `service:read` alone.
    pub(crate) can_write: bool,
}

impl ServiceCaller {
    /// A mesh request acting for the account, with the actor recorded in events.
    pub(crate) fn grpc_request<T>(&self, message: T) -> tonic::Request<T> {
        let request = latchkey_server::with_account(message, self.account_id.as_str(), Some(&self.actor));
        latchkey_server::with_plan(request, &self.plan)
    }

    /// Whether it may make a request with `method`: a read-only key only reads.
    pub(crate) fn may(&self, method: &http::Method) -> bool {
        self.can_write || method == http::Method::GET || method == http::Method::HEAD
    }
}
