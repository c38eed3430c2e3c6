//! Which mesh identity may call which method (docs/security.md, "The mesh").
//!
//! A callee knows its caller from the certificate the TLS handshake verified, or, within one
//! process, from the calling service itself ([`MeshPeer`]). Each method answers only the
//! identities that need it: the gateway calls most, the vault answers each service only the
//! methods it uses, and the `operator` identity is the command line's (`latchkey account`,
//! `latchkey keys rotate`). A call without a known identity (the shared-token fallback of
//! `latchkey dev` and of plaintext meshes) is not checked here; the handlers' service-token check
//! is all it gets.

use std::task::{Context, Poll};

use futures::future::{BoxFuture, FutureExt};
use tonic::body::Body;

use super::identity::{IDENTITIES, MeshPeer};

const GATEWAY: &[&str] = &["gateway"];

/// (gRPC service, method or `*` for the rest of its methods, who may call it). The first rule
/// that names the service and the method (or `*`) decides; a service no rule names answers no one.
const RULES: &[(&str, &str, &[&str])] = &[
    // Health and reflection: any identity of the mesh (probes, `grpcurl` with an operator cert).
    ("grpc.health.v1.Health", "*", IDENTITIES),
    ("grpc.reflection.v1.ServerReflection", "*", IDENTITIES),
    ("grpc.reflection.v1alpha.ServerReflection", "*", IDENTITIES),
    // The operator's command line: accounts, plans, signing keys.
    (
        "latchkey.agent_token.v1.AgentTokenService",
        "CreateAccount",
        &["operator"],
    ),
    (
        "latchkey.agent_token.v1.AgentTokenService",
        "SetAccountPlan",
        &["operator"],
    ),
    (
        "latchkey.agent_token.v1.AgentTokenService",
        "RotateSigningKey",
        &["operator"],
    ),
    // Policy reads the agent a rule names.
    (
        "latchkey.agent_token.v1.AgentTokenService",
        "GetAgent",
        &["gateway", "policy"],
    ),
    ("latchkey.agent_token.v1.AgentTokenService", "*", GATEWAY),
    ("latchkey.agent_token.v1.CertificateService", "*", GATEWAY),
    // The webhook service checks a receiver's host against the account's verified domains.
    (
        "latchkey.agent_token.v1.DomainService",
        "CheckHosts",
        &["gateway", "webhook"],
    ),
    ("latchkey.agent_token.v1.DomainService", "*", GATEWAY),
    // agent-token asks policy before it issues a token.
    (
        "latchkey.policy.v1.PolicyService",
        "Evaluate",
        &["gateway", "agent-token"],
    ),
    ("latchkey.policy.v1.PolicyService", "*", GATEWAY),
    // The vault: the gateway stores and lists credentials; oauth and webhook keep their secrets;
    // agent-token and audit seal their own keys in it (`SystemSecrets`).
    ("latchkey.vault.v1.VaultService", "PutSecrets", GATEWAY),
    ("latchkey.vault.v1.VaultService", "ListSecrets", &["gateway", "oauth"]),
    (
        "latchkey.vault.v1.VaultService",
        "PutSecret",
        &["oauth", "webhook", "agent-token", "audit"],
    ),
    (
        "latchkey.vault.v1.VaultService",
        "GetSecret",
        &["oauth", "webhook", "agent-token", "audit"],
    ),
    ("latchkey.vault.v1.VaultService", "DeleteSecret", &["oauth", "webhook"]),
    ("latchkey.audit.v1.AuditService", "*", GATEWAY),
    ("latchkey.oauth.v1.OauthService", "*", GATEWAY),
    ("latchkey.webhook.v1.WebhookService", "*", GATEWAY),
    ("latchkey.directory.v1.DirectoryService", "*", GATEWAY),
];

/// True when `identity` may call the method at `path` (`/package.Service/Method`).
pub fn may_call(identity: &str, path: &str) -> bool {
    let Some((service, method)) = path.strip_prefix('/').and_then(|path| path.split_once('/')) else {
        return false;
    };
    RULES
        .iter()
        .find(|(rule_service, rule_method, _)| {
            *rule_service == service && (*rule_method == method || *rule_method == "*")
        })
        .is_some_and(|(_, _, callers)| callers.contains(&identity))
}

/// Refuses, with PERMISSION_DENIED, a call whose peer is known and may not call its method.
#[derive(Clone, Debug)]
pub(crate) struct Authorize<S> {
    inner: S,
}

/// The [`Authorize`] layer.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct AuthorizeLayer;

impl<S> tower::Layer<S> for AuthorizeLayer {
    type Service = Authorize<S>;

    fn layer(&self, inner: S) -> Authorize<S> {
        Authorize { inner }
    }
}

impl<S, E> tower::Service<http::Request<Body>> for Authorize<S>
where
    S: tower::Service<http::Request<Body>, Response = http::Response<Body>, Error = E>,
    S::Future: Send + 'static,
    E: Send + 'static,
{
    type Response = http::Response<Body>;
    type Error = E;
    type Future = BoxFuture<'static, Result<http::Response<Body>, E>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), E>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<Body>) -> Self::Future {
        if let Some(peer) = request.extensions().get::<MeshPeer>().copied() {
            let path = request.uri().path();
            let refusal = match peer.identity {
                None => Some("the certificate names no mesh service".to_owned()),
                Some(identity) if !may_call(identity, path) => Some(format!("{identity} may not call {path}")),
                Some(_) => None,
            };
            if let Some(refusal) = refusal {
                tracing::warn!(%refusal, "mesh call refused");
                let refused = tonic::Status::permission_denied(refusal).into_http();
                return futures::future::ready(Ok(refused)).boxed();
            }
        }
        self.inner.call(request).boxed()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_gateway_calls_most_methods_and_the_vault_answers_each_service_what_it_uses() {
        assert!(may_call("gateway", "/latchkey.oauth.v1.OauthService/FetchToken"));
        assert!(may_call("gateway", "/latchkey.vault.v1.VaultService/PutSecrets"));
        assert!(!may_call("gateway", "/latchkey.vault.v1.VaultService/GetSecret"));
        assert!(may_call("oauth", "/latchkey.vault.v1.VaultService/GetSecret"));
        assert!(!may_call("webhook", "/latchkey.vault.v1.VaultService/ListSecrets"));
        assert!(!may_call("audit", "/latchkey.vault.v1.VaultService/DeleteSecret"));
        assert!(!may_call("oauth", "/latchkey.webhook.v1.WebhookService/ListEndpoints"));
    }

    #[test]
    fn accounts_and_signing_keys_answer_only_the_operator() {
        for method in ["CreateAccount", "SetAccountPlan", "RotateSigningKey"] {
            let path = format!("/latchkey.agent_token.v1.AgentTokenService/{method}");
            assert!(may_call("operator", &path));
            assert!(!may_call("gateway", &path), "{path}");
        }
        assert!(!may_call("operator", "/latchkey.vault.v1.VaultService/GetSecret"));
    }

    #[test]
    fn unknown_services_methods_and_malformed_paths_answer_no_one() {
        for identity in IDENTITIES {
            assert!(!may_call(identity, "/latchkey.unknown.v1.Nothing/Call"));
            assert!(!may_call(identity, "latchkey.vault.v1.VaultService/GetSecret"));
            assert!(!may_call(identity, "/latchkey.vault.v1.VaultService"));
            assert!(!may_call(identity, "/latchkey.vault.v1.VaultService/*"));
            assert!(may_call(identity, "/grpc.health.v1.Health/Check"));
        }
        assert!(!may_call("*", "/latchkey.audit.v1.AuditService/ListEntries"));
        assert!(!may_call("", "/latchkey.audit.v1.AuditService/ListEntries"));
    }
}
