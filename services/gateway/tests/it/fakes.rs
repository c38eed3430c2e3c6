//! In-memory stand-ins for agent-token and audit that behave per their protos, served over real
//! gRPC by `latchkey_server::serve_grpc`, a policy and a webhook service that hold nothing, and a
//! record of every call that reached them. The real services are tested in their own crates.

use std::{
    collections::HashMap,
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, AtomicUsize, Ordering},
    },
};

use axum::{
    extract::{Path, Request as HttpRequest},
    middleware::{self, Next},
    response::Response as HttpResponse,
    routing::post,
};
use futures::StreamExt;
use latchkey_errors::ApiError;
use latchkey_proto::{
    agent_token::v1::{self as at, agent_token_service_server::AgentTokenService},
    audit::v1::{self as au, audit_service_server::AuditService},
    vault::v1::{self as vault, vault_service_server::VaultService},
};
use latchkey_server::MeshAuth;
use tokio::sync::oneshot;
use tonic::{Request, Response, Status, service::Routes};

#[derive(Clone, Debug)]
pub struct StoredKey {
    pub id: String,
    pub account_id: String,
    pub name: String,
    pub secret: String,
    pub created_at_ms: i64,
    pub last_used_at_ms: i64,
}

/// agent-token, in memory.
#[derive(Clone)]
pub struct FakeAgentToken {
    pub auth: MeshAuth,
    pub keys: Arc<Mutex<Vec<StoredKey>>>,
    /// How many AuthenticateApiKey calls reached the service (cache misses).
    pub authentications: Arc<AtomicUsize>,
    /// The `traceparent` metadata of the last CreateApiKey call.
    pub last_traceparent: Arc<Mutex<Option<String>>>,
    counter: Arc<AtomicUsize>,
}

impl FakeAgentToken {
    pub fn new(auth: MeshAuth) -> Self {
        Self {
            auth,
            keys: Arc::default(),
            authentications: Arc::default(),
            last_traceparent: Arc::default(),
            counter: Arc::default(),
        }
    }

    /// Creates a key directly in the store (as bootstrap would); returns (key id, secret).
    pub fn add_key(&self, account_id: &str, name: &str) -> StoredKey {
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        let key = StoredKey {
            id: format!("key_{n:04}"),
            account_id: account_id.to_owned(),
            name: name.to_owned(),
            secret: format!("lk_live_{}", uuid::Uuid::new_v4().simple()),
            created_at_ms: 1_767_225_600_000 + n as i64,
            last_used_at_ms: 0,
        };
        self.keys.lock().unwrap().push(key.clone());
        key
    }

    /// Removes a key from the store without telling any gateway, as another gateway's delete would.
    pub fn remove_silently(&self, key_id: &str) {
        self.keys.lock().unwrap().retain(|k| k.id != key_id);
    }

    fn to_proto(key: &StoredKey) -> at::ApiKey {
        at::ApiKey {
            id: key.id.clone(),
            name: key.name.clone(),
            prefix: "lk_live_".to_owned(),
            last4: key.secret[key.secret.len() - 4..].to_owned(),
            created_at_ms: key.created_at_ms,
            last_used_at_ms: key.last_used_at_ms,
        }
    }
}

#[tonic::async_trait]
impl AgentTokenService for FakeAgentToken {
    // Agents are exercised end to end against the real agent-token (tests/it at the root); these
    // gateway tests cover the edge itself.
    async fn create_agent(
        &self,
        _request: Request<at::CreateAgentRequest>,
    ) -> Result<Response<at::CreateAgentResponse>, Status> {
        Err(Status::unimplemented("not needed by the gateway's own tests"))
    }

    async fn list_agents(
        &self,
        _request: Request<at::ListAgentsRequest>,
    ) -> Result<Response<at::ListAgentsResponse>, Status> {
        Err(Status::unimplemented("not needed by the gateway's own tests"))
    }

    // This agent-token holds no agents: every one asked about is unknown.
    async fn get_agent(&self, _request: Request<at::GetAgentRequest>) -> Result<Response<at::Agent>, Status> {
        Err(ApiError::not_found("agent").into())
    }

    async fn change_agent_status(
        &self,
        _request: Request<at::ChangeAgentStatusRequest>,
    ) -> Result<Response<at::Agent>, Status> {
        Err(ApiError::not_found("agent").into())
    }

    async fn issue_token(
        &self,
        _request: Request<at::IssueTokenRequest>,
    ) -> Result<Response<at::IssueTokenResponse>, Status> {
        Err(Status::unimplemented("not needed by the gateway's own tests"))
    }

    async fn verify_tokens(
        &self,
        _request: Request<at::VerifyTokensRequest>,
    ) -> Result<Response<at::VerifyTokensResponse>, Status> {
        Err(Status::unimplemented("not needed by the gateway's own tests"))
    }

    async fn revoke_token(
        &self,
        _request: Request<at::RevokeTokenRequest>,
    ) -> Result<Response<at::RevokeTokenResponse>, Status> {
        Err(Status::unimplemented("not needed by the gateway's own tests"))
    }

    async fn delegate_token(
        &self,
        _request: Request<at::DelegateTokenRequest>,
    ) -> Result<Response<at::IssueTokenResponse>, Status> {
        Err(Status::unimplemented("not needed by the gateway's own tests"))
    }

    async fn authorize_token_use(
        &self,
        _request: Request<at::AuthorizeTokenUseRequest>,
    ) -> Result<Response<at::AuthorizedTokenUse>, Status> {
        Err(Status::unimplemented("not needed by the gateway's own tests"))
    }

    async fn start_console_session(
        &self,
        _request: Request<at::StartConsoleSessionRequest>,
    ) -> Result<Response<at::StartedConsoleSession>, Status> {
        Err(Status::unimplemented(
            "the console is tested end to end (tests/it/console.rs)",
        ))
    }

    async fn resolve_console_session(
        &self,
        _request: Request<at::ResolveConsoleSessionRequest>,
    ) -> Result<Response<at::ConsoleSession>, Status> {
        Err(Status::unimplemented(
            "the console is tested end to end (tests/it/console.rs)",
        ))
    }

    async fn end_console_session(
        &self,
        _request: Request<at::EndConsoleSessionRequest>,
    ) -> Result<Response<at::EndConsoleSessionResponse>, Status> {
        Err(Status::unimplemented(
            "the console is tested end to end (tests/it/console.rs)",
        ))
    }

    async fn get_jwks(&self, _request: Request<at::GetJwksRequest>) -> Result<Response<at::GetJwksResponse>, Status> {
        Ok(Response::new(at::GetJwksResponse {
            jwks_json: r#"{"keys":[{"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo","kid":"token-fake","use":"sig","alg":"EdDSA"}]}"#.to_owned(),
        }))
    }

    async fn rotate_signing_key(
        &self,
        _request: Request<at::RotateSigningKeyRequest>,
    ) -> Result<Response<at::RotateSigningKeyResponse>, Status> {
        Err(Status::unimplemented("not needed by the gateway's own tests"))
    }

    async fn set_account_plan(
        &self,
        _request: Request<at::SetAccountPlanRequest>,
    ) -> Result<Response<at::SetAccountPlanResponse>, Status> {
        Err(Status::unimplemented("not needed by the gateway"))
    }

    async fn get_usage(
        &self,
        _request: Request<at::GetUsageRequest>,
    ) -> Result<Response<at::GetUsageResponse>, Status> {
        Err(Status::unimplemented("not needed by the gateway's own tests"))
    }

    async fn get_account_plan(
        &self,
        _request: Request<at::GetAccountPlanRequest>,
    ) -> Result<Response<at::AccountPlan>, Status> {
        Err(Status::unimplemented(
            "not needed by the gateway's own tests: service keys are tested end to end",
        ))
    }

    async fn create_account(
        &self,
        _request: Request<at::CreateAccountRequest>,
    ) -> Result<Response<at::CreateAccountResponse>, Status> {
        Err(Status::unimplemented("not needed by the gateway"))
    }

    async fn authenticate_api_key(
        &self,
        request: Request<at::AuthenticateApiKeyRequest>,
    ) -> Result<Response<at::Principal>, Status> {
        if !self.auth.is_mesh_call(&request) {
            return Err(Status::unauthenticated("no service credential"));
        }
        self.authentications.fetch_add(1, Ordering::SeqCst);
        let secret = &request.get_ref().secret;
        let mut keys = self.keys.lock().unwrap();
        let key = keys
            .iter_mut()
            .find(|k| &k.secret == secret)
            .ok_or_else(|| Status::unauthenticated("unknown key"))?;
        key.last_used_at_ms = 1_767_225_700_000;
        Ok(Response::new(at::Principal {
            account_id: key.account_id.clone(),
            api_key_id: key.id.clone(),
            plan: "self-hosted".to_owned(),
        }))
    }

    async fn create_api_key(
        &self,
        request: Request<at::CreateApiKeyRequest>,
    ) -> Result<Response<at::CreateApiKeyResponse>, Status> {
        let account = self.auth.mesh_account(&request)?.into_string();
        if request.get_ref().name == "explode" {
            return Err(Status::internal("connection to db at 10.0.0.3 refused"));
        }
        let traceparent = request
            .metadata()
            .get("traceparent")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        *self.last_traceparent.lock().unwrap() = traceparent;
        let key = self.add_key(account.as_str(), &request.get_ref().name);
        Ok(Response::new(at::CreateApiKeyResponse {
            created: Some(at::CreatedApiKey {
                key: Some(Self::to_proto(&key)),
                secret: key.secret.clone(),
            }),
        }))
    }

    async fn list_api_keys(
        &self,
        request: Request<at::ListApiKeysRequest>,
    ) -> Result<Response<at::ListApiKeysResponse>, Status> {
        let account = self.auth.mesh_account(&request)?.into_string();
        let keys = self.keys.lock().unwrap();
        let mut listed: Vec<_> = keys
            .iter()
            .filter(|k| k.account_id == account)
            .map(Self::to_proto)
            .collect();
        listed.reverse();
        Ok(Response::new(at::ListApiKeysResponse { keys: listed }))
    }

    async fn delete_api_key(
        &self,
        request: Request<at::DeleteApiKeyRequest>,
    ) -> Result<Response<at::DeleteApiKeyResponse>, Status> {
        let account = self.auth.mesh_account(&request)?.into_string();
        let id = &request.get_ref().id;
        let mut keys = self.keys.lock().unwrap();
        let before = keys.len();
        keys.retain(|k| !(k.account_id == account && &k.id == id));
        if keys.len() == before {
            return Err(ApiError::not_found("API key").into());
        }
        Ok(Response::new(at::DeleteApiKeyResponse {}))
    }
}

/// audit, in memory: entries per account, seq from 1.
#[derive(Clone)]
pub struct FakeAudit {
    pub auth: MeshAuth,
    pub entries: Arc<Mutex<HashMap<String, Vec<au::AuditEntry>>>>,
    /// While set, ListEntries never answers (a service that hangs).
    pub stall_listing: Arc<AtomicBool>,
    /// When set, the next export streams its first entry, then waits for this before the rest.
    export_pause: Arc<Mutex<Option<oneshot::Receiver<()>>>>,
}

impl FakeAudit {
    pub fn new(auth: MeshAuth) -> Self {
        Self {
            auth,
            entries: Arc::default(),
            stall_listing: Arc::default(),
            export_pause: Arc::default(),
        }
    }

    /// Makes the next export pause after its first entry; it goes on when the answer is used.
    pub fn pause_next_export(&self) -> oneshot::Sender<()> {
        let (resume, paused) = oneshot::channel();
        *self.export_pause.lock().unwrap() = Some(paused);
        resume
    }

    /// Appends an entry to `account`'s chain.
    pub fn append(&self, account: &str, event_type: &str, actor: &str, data_json: &str) {
        let mut all = self.entries.lock().unwrap();
        let chain = all.entry(account.to_owned()).or_default();
        let seq = chain.len() as i64 + 1;
        let prev_hash = chain.last().map_or_else(|| "0".repeat(64), |e| e.hash.clone());
        chain.push(au::AuditEntry {
            seq,
            event_id: format!("evt_{seq}"),
            r#type: event_type.to_owned(),
            time_ms: 1_767_225_600_000 + seq,
            actor: actor.to_owned(),
            subject: format!("key_{seq}"),
            decision_id: String::new(),
            data_json: data_json.to_owned(),
            prev_hash,
            hash: format!("{seq:064x}"),
            account_id: account.to_owned(),
        });
    }
}

#[tonic::async_trait]
impl AuditService for FakeAudit {
    async fn list_entries(
        &self,
        request: Request<au::ListEntriesRequest>,
    ) -> Result<Response<au::ListEntriesResponse>, Status> {
        let account = self.auth.mesh_account(&request)?.into_string();
        if self.stall_listing.load(Ordering::Relaxed) {
            std::future::pending::<()>().await;
        }
        let query = request.into_inner();
        let all = self.entries.lock().unwrap();
        let mut chain: Vec<au::AuditEntry> = all.get(&account).cloned().unwrap_or_default();
        chain.retain(|e| query.r#type.is_empty() || e.r#type == query.r#type);
        if query.newest_first {
            chain.reverse();
            chain.retain(|e| query.cursor == 0 || e.seq < query.cursor);
        } else {
            chain.retain(|e| e.seq > query.cursor);
        }
        let limit = query.limit as usize;
        let more = chain.len() > limit;
        chain.truncate(limit);
        let next_cursor = if more { chain.last().map_or(0, |e| e.seq) } else { 0 };
        Ok(Response::new(au::ListEntriesResponse {
            entries: chain,
            next_cursor,
        }))
    }

    async fn verify_chain(
        &self,
        _request: Request<au::VerifyChainRequest>,
    ) -> Result<Response<au::VerifyChainResponse>, Status> {
        Err(Status::unimplemented("not needed by the gateway"))
    }

    type ExportEntriesStream = std::pin::Pin<Box<dyn futures::Stream<Item = Result<au::AuditEntry, Status>> + Send>>;

    async fn export_entries(
        &self,
        request: Request<au::ExportEntriesRequest>,
    ) -> Result<Response<Self::ExportEntriesStream>, Status> {
        let account = self.auth.mesh_account(&request)?.into_string();
        let chain: Vec<au::AuditEntry> = self.entries.lock().unwrap().get(&account).cloned().unwrap_or_default();
        let mut chain = chain.into_iter().map(move |mut entry| {
            entry.account_id = account.clone();
            Ok(entry)
        });
        let first: Vec<_> = chain.next().into_iter().collect();
        let pause = self.export_pause.lock().unwrap().take();
        let pause = futures::stream::once(async move {
            if let Some(paused) = pause {
                let _ = paused.await;
            }
        })
        .filter_map(|()| async { None });
        let rest = futures::stream::iter(chain);
        Ok(Response::new(Box::pin(
            futures::stream::iter(first).chain(pause).chain(rest),
        )))
    }

    async fn sign_checkpoint(
        &self,
        _request: Request<au::SignCheckpointRequest>,
    ) -> Result<Response<au::Checkpoint>, Status> {
        Err(Status::unimplemented("not needed by the gateway"))
    }

    async fn list_checkpoints(
        &self,
        _request: Request<au::ListCheckpointsRequest>,
    ) -> Result<Response<au::ListCheckpointsResponse>, Status> {
        Err(Status::unimplemented("not needed by the gateway"))
    }

    async fn get_checkpoint_keys(
        &self,
        _request: Request<au::GetCheckpointKeysRequest>,
    ) -> Result<Response<au::GetCheckpointKeysResponse>, Status> {
        Ok(Response::new(au::GetCheckpointKeysResponse {
            keys_json: r#"[{"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo","kid":"audit-fake","use":"sig","alg":"EdDSA"}]"#.to_owned(),
        }))
    }

    async fn get_analytics(
        &self,
        _request: Request<au::GetAnalyticsRequest>,
    ) -> Result<Response<au::GetAnalyticsResponse>, Status> {
        Err(Status::unimplemented("not needed by the gateway"))
    }
}

/// Secrets by (account, id): the plaintext and what the vault tells about it.
pub type StoredSecrets = HashMap<(String, String), (Vec<u8>, vault::SecretMetadata)>;

/// The vault, in memory: secrets by (account, id), sealed by nothing (the real vault's cryptography is
/// tested in its own crate). Counts writes, so tests can tell a refused request wrote nothing.
#[derive(Clone)]
pub struct FakeVault {
    pub auth: MeshAuth,
    pub secrets: Arc<Mutex<StoredSecrets>>,
    pub writes: Arc<AtomicUsize>,
}

impl FakeVault {
    pub fn new(auth: MeshAuth) -> Self {
        Self {
            auth,
            secrets: Arc::default(),
            writes: Arc::default(),
        }
    }

    fn store(&self, account: &str, put: vault::PutSecretRequest) -> vault::SecretMetadata {
        let mut secrets = self.secrets.lock().expect("lock");
        let key = (account.to_owned(), put.secret_id.clone());
        let previous = secrets.get(&key).map(|(_, metadata)| metadata.clone());
        let text = String::from_utf8_lossy(&put.plaintext).into_owned();
        let count = text.chars().count();
        let metadata = vault::SecretMetadata {
            secret_id: put.secret_id,
            version: previous.as_ref().map_or(1, |m| m.version + 1),
            write_only: put.write_only || previous.as_ref().is_some_and(|m| m.write_only),
            last4: if count >= 12 {
                text.chars().skip(count - 4).collect()
            } else {
                String::new()
            },
            created_at_unix: 1_767_225_600,
            updated_at_unix: 1_767_225_600,
        };
        secrets.insert(key, (put.plaintext, metadata.clone()));
        self.writes.fetch_add(1, Ordering::SeqCst);
        metadata
    }
}

#[tonic::async_trait]
impl VaultService for FakeVault {
    async fn describe(&self, _: Request<vault::DescribeRequest>) -> Result<Response<vault::DescribeResponse>, Status> {
        Ok(Response::new(vault::DescribeResponse::default()))
    }

    async fn put_secret(
        &self,
        request: Request<vault::PutSecretRequest>,
    ) -> Result<Response<vault::PutSecretResponse>, Status> {
        let account = self.auth.mesh_account(&request)?.into_string();
        let secret = Some(self.store(account.as_str(), request.into_inner()));
        Ok(Response::new(vault::PutSecretResponse { secret }))
    }

    async fn put_secrets(
        &self,
        request: Request<vault::PutSecretsRequest>,
    ) -> Result<Response<vault::PutSecretsResponse>, Status> {
        let account = self.auth.mesh_account(&request)?.into_string();
        let secrets = request
            .into_inner()
            .secrets
            .into_iter()
            .map(|put| self.store(account.as_str(), put))
            .collect();
        Ok(Response::new(vault::PutSecretsResponse { secrets }))
    }

    async fn get_secret(
        &self,
        request: Request<vault::GetSecretRequest>,
    ) -> Result<Response<vault::GetSecretResponse>, Status> {
        let account = self.auth.mesh_account(&request)?.into_string();
        let message = request.into_inner();
        let secrets = self.secrets.lock().expect("lock");
        let (plaintext, metadata) = secrets
            .get(&(account, message.secret_id))
            .ok_or_else(|| Status::from(ApiError::not_found("secret")))?;
        if metadata.write_only && !message.internal_use {
            return Err(ApiError::new(latchkey_errors::ErrorCode::Forbidden, "write-only").into());
        }
        Ok(Response::new(vault::GetSecretResponse {
            plaintext: plaintext.clone(),
            secret: Some(metadata.clone()),
        }))
    }

    async fn delete_secret(
        &self,
        request: Request<vault::DeleteSecretRequest>,
    ) -> Result<Response<vault::DeleteSecretResponse>, Status> {
        let account = self.auth.mesh_account(&request)?.into_string();
        let id = request.into_inner().secret_id;
        self.secrets
            .lock()
            .expect("lock")
            .remove(&(account, id))
            .ok_or_else(|| Status::from(ApiError::not_found("secret")))?;
        Ok(Response::new(vault::DeleteSecretResponse {}))
    }

    async fn list_secrets(
        &self,
        request: Request<vault::ListSecretsRequest>,
    ) -> Result<Response<vault::ListSecretsResponse>, Status> {
        let account = self.auth.mesh_account(&request)?.into_string();
        let prefix = request.into_inner().prefix;
        let mut secrets: Vec<_> = self
            .secrets
            .lock()
            .expect("lock")
            .iter()
            .filter(|((owner, id), _)| *owner == account && id.starts_with(&prefix))
            .map(|(_, (_, metadata))| metadata.clone())
            .collect();
        secrets.sort_by(|a, b| a.secret_id.cmp(&b.secret_id));
        Ok(Response::new(vault::ListSecretsResponse { secrets }))
    }
}

/// Every gRPC call made for an account that reached the fake services, by method
/// (`/latchkey.….Service/Method`), in order: tells a test whether the gateway called a service on
/// a caller's behalf. Calls for no account (resolving an API key, fetching signing keys in the
/// background) are not recorded.
#[derive(Clone, Default)]
pub struct GrpcCalls(Arc<Mutex<Vec<String>>>);

impl GrpcCalls {
    /// `routes`, recording every call they get for an account.
    pub fn record(&self, routes: Routes) -> Routes {
        let calls = self.clone();
        let router = routes
            .into_axum_router()
            .layer(middleware::from_fn(move |request: HttpRequest, next: Next| {
                if request.headers().contains_key(latchkey_server::ACCOUNT_HEADER) {
                    calls.0.lock().unwrap().push(request.uri().path().to_owned());
                }
                next.run(request)
            }));
        Routes::from(router)
    }

    /// How many calls were made for an account so far.
    pub fn for_accounts(&self) -> usize {
        self.0.lock().unwrap().len()
    }
}

/// `routes` with a policy and a webhook service that hold nothing: every call answers as the real
/// service answers for an unknown id (the webhook service looks up the endpoint first).
pub fn with_empty_policy_and_webhook(mut routes: Routes) -> Routes {
    let router = routes.axum_router_mut();
    *router = std::mem::take(router)
        .route(
            "/latchkey.policy.v1.PolicyService/{method}",
            post(unknown_policy_or_approval),
        )
        .route(
            "/latchkey.webhook.v1.WebhookService/{method}",
            post(|| async { not_found("webhook endpoint") }),
        );
    routes
}

async fn unknown_policy_or_approval(Path(method): Path<String>) -> HttpResponse {
    let what = if method.contains("Approval") {
        "approval"
    } else {
        "policy"
    };
    not_found(what)
}

fn not_found(what: &str) -> HttpResponse {
    Status::from(ApiError::not_found(what)).into_http()
}
