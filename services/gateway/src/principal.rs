//! The authenticated caller, as handlers and the key cache hold it. How a request becomes one is
//! `auth`'s business; this type is apart from it so the cache can hold principals without
//! depending on the extractor that fills it.

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
