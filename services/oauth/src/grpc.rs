//! The gRPC face of the service: unpack, find out which account calls, call the domain, convert
//! back. The account is always the caller's (mesh metadata); only `ListProviders` and
//! `CompleteCallback` act without one (the latter's state names its session and account).

use latchkey_proto::oauth::v1::{self as pb, oauth_service_server::OauthService};
use latchkey_server::Caller;
use tonic::{Request, Response, Status};
use tracing::instrument;

use crate::{
    ConnectLink, Connection, CredentialUse, ExchangeRequest, MtprotoSummary, Oauth, OauthApp, SessionFlow,
    SessionRequest,
};

pub(crate) struct GrpcApi {
    service: Oauth,
}

impl GrpcApi {
    pub(crate) fn new(service: Oauth) -> Self {
        Self { service }
    }

    /// The caller's account and the flow it asks to start (a session now, or a connect link that
    /// starts one later), once the plan's connection limit allows it.
    async fn flow_start<T: StartsFlow>(
        &self,
        request: Request<T>,
    ) -> Result<(latchkey_ids::AccountId, SessionRequest), Status> {
        let account = self.service.mesh.caller(&request)?.account;
        let plan = latchkey_server::plan_of(&request);
        let session = request.into_inner().into_session();
        self.service
            .check_connection_limit(&account, plan.as_deref(), &session.provider, &session.end_user_id)
            .await?;
        Ok((account, session))
    }
}

/// A request that starts an OAuth flow.
trait StartsFlow {
    fn into_session(self) -> SessionRequest;
}

impl StartsFlow for pb::CreateSessionRequest {
    fn into_session(self) -> SessionRequest {
        let flow = flow_of(self.flow());
        SessionRequest {
            provider: self.provider,
            redirect_uri: self.redirect_uri,
            scopes: self.scopes,
            end_user_id: self.end_user_id,
            flow,
        }
    }
}

impl StartsFlow for pb::CreateConnectLinkRequest {
    fn into_session(self) -> SessionRequest {
        let flow = flow_of(self.flow());
        SessionRequest {
            provider: self.provider,
            redirect_uri: self.redirect_uri,
            scopes: self.scopes,
            end_user_id: self.end_user_id,
            flow,
        }
    }
}

fn app_to_pb(app: OauthApp) -> pb::OauthApp {
    pb::OauthApp {
        provider: app.provider,
        client_id: app.client_id,
        client_secret_last4: app.client_secret_last4,
        updated_at_ms: app.updated_at_ms,
    }
}

fn flow_of(flow: pb::SessionFlow) -> SessionFlow {
    match flow {
        pb::SessionFlow::Callback => SessionFlow::Callback,
        pb::SessionFlow::Exchange => SessionFlow::Exchange,
    }
}

fn link_to_pb(link: ConnectLink) -> pb::ConnectLink {
    pb::ConnectLink {
        id: link.id.into_string(),
        token: link.token,
        provider: link.provider,
        end_user_id: link.end_user_id,
        redirect_uri: link.redirect_uri,
        scopes: link.scopes,
        flow: link.flow.as_str().to_owned(),
        expires_at_ms: link.expires_at_ms,
        created_at_ms: link.created_at_ms,
    }
}

fn mtproto_to_pb(session: MtprotoSummary) -> pb::MtprotoSession {
    pb::MtprotoSession {
        provider: session.provider,
        api_id: session.api_id,
        api_hash_last4: session.api_hash_last4,
        updated_at_ms: session.updated_at_ms,
    }
}

fn connection_to_pb(connection: Connection) -> pb::Connection {
    pb::Connection {
        id: connection.id.into_string(),
        provider: connection.provider,
        end_user_id: connection.end_user_id,
        status: connection.status,
        scopes: connection.scopes,
        provider_email: connection.provider_email,
        expires_at_ms: connection.expires_at_ms,
        created_at_ms: connection.created_at_ms,
        updated_at_ms: connection.updated_at_ms,
    }
}

#[tonic::async_trait]
impl OauthService for GrpcApi {
    async fn describe(&self, _request: Request<pb::DescribeRequest>) -> Result<Response<pb::DescribeResponse>, Status> {
        Ok(Response::new(pb::DescribeResponse {
            service: "oauth".to_owned(),
            version: env!("CARGO_PKG_VERSION").to_owned(),
        }))
    }

    async fn list_providers(
        &self,
        request: Request<pb::ListProvidersRequest>,
    ) -> Result<Response<pb::ListProvidersResponse>, Status> {
        self.service.mesh.require_mesh_call(&request)?;
        let providers = self
            .service
            .enabled_providers()
            .into_iter()
            .map(|(provider, configured)| provider.to_message(configured))
            .collect();
        Ok(Response::new(pb::ListProvidersResponse { providers }))
    }

    #[instrument(skip_all, err(level = "debug"))]
    async fn create_session(
        &self,
        request: Request<pb::CreateSessionRequest>,
    ) -> Result<Response<pb::CreateSessionResponse>, Status> {
        let (account, session) = self.flow_start(request).await?;
        let session = self.service.create_session(&account, session).await?;
        Ok(Response::new(pb::CreateSessionResponse {
            url: session.url,
            session_id: session.id.into_string(),
            expires_at_ms: session.expires_at_ms,
        }))
    }

    // No `instrument` fields: the state and code are secrets.
    #[instrument(skip_all, err(level = "debug"))]
    async fn complete_callback(
        &self,
        request: Request<pb::CompleteCallbackRequest>,
    ) -> Result<Response<pb::CompleteCallbackResponse>, Status> {
        self.service.mesh.require_mesh_call(&request)?;
        let m = request.into_inner();
        let outcome = self
            .service
            .complete_callback(&m.state, &m.code, &m.error, &m.error_description)
            .await?;
        Ok(Response::new(pb::CompleteCallbackResponse {
            redirect_to: outcome.redirect_to.unwrap_or_default(),
            outcome: outcome.outcome,
            provider: outcome.provider,
            connection_id: outcome.connection_id.map(String::from).unwrap_or_default(),
            message: outcome.message,
        }))
    }

    #[instrument(skip_all, err(level = "debug"))]
    async fn fetch_token(
        &self,
        request: Request<pb::FetchTokenRequest>,
    ) -> Result<Response<pb::FetchTokenResponse>, Status> {
        let account = self.service.mesh.caller(&request)?.account;
        let m = request.into_inner();
        let token = self.service.fetch_token(&account, &m.provider, &m.end_user_id).await?;
        Ok(Response::new(pb::FetchTokenResponse {
            access_token: token.access_token,
            expires_at_ms: token.expires_at_ms,
            scopes: token.scopes,
            provider_email: token.provider_email,
            r#type: token.kind.to_owned(),
            api_id: token.api_id,
            api_hash: token.api_hash,
            connection_id: token.connection_id.map(String::from).unwrap_or_default(),
        }))
    }

    #[instrument(skip_all, err(level = "debug"))]
    async fn open_proxy_credential(
        &self,
        request: Request<pb::OpenProxyCredentialRequest>,
    ) -> Result<Response<pb::ProxyCredential>, Status> {
        let account = self.service.mesh.caller(&request)?.account;
        let m = request.into_inner();
        let credential = self
            .service
            .proxy_credential(&account, &m.provider, &m.service, &m.end_user_id)
            .await?;
        Ok(Response::new(pb::ProxyCredential {
            header_name: credential.header_name.as_str().to_owned(),
            header_value: credential.header_value.to_string(),
            api_base_url: credential.api_base_url,
        }))
    }

    #[instrument(skip_all, err(level = "debug"))]
    async fn record_credential_use(
        &self,
        request: Request<pb::RecordCredentialUseRequest>,
    ) -> Result<Response<pb::RecordCredentialUseResponse>, Status> {
        let Caller { account, actor } = self.service.mesh.caller(&request)?;
        let m = request.into_inner();
        let used = CredentialUse {
            provider: m.provider,
            service: m.service,
            method: m.method,
            path_template: m.path_template,
            status: u16::try_from(m.status).unwrap_or(0),
            agent_id: Some(m.agent_id).filter(|id| !id.is_empty()),
            decision_id: Some(m.decision_id).filter(|id| !id.is_empty()),
        };
        self.service
            .record_credential_use(&account, actor.as_deref(), used)
            .await?;
        Ok(Response::new(pb::RecordCredentialUseResponse {}))
    }

    #[instrument(skip_all, err(level = "debug"))]
    async fn disconnect(
        &self,
        request: Request<pb::DisconnectRequest>,
    ) -> Result<Response<pb::DisconnectResponse>, Status> {
        let Caller { account, actor } = self.service.mesh.caller(&request)?;
        let m = request.into_inner();
        let (connection_id, revoked_at_provider) = self
            .service
            .disconnect(&account, actor.as_deref(), &m.provider, &m.end_user_id)
            .await?;
        Ok(Response::new(pb::DisconnectResponse {
            connection_id: connection_id.into_string(),
            revoked_at_provider,
        }))
    }

    #[instrument(skip_all, err(level = "debug"))]
    async fn list_connections(
        &self,
        request: Request<pb::ListConnectionsRequest>,
    ) -> Result<Response<pb::ListConnectionsResponse>, Status> {
        let account = self.service.mesh.caller(&request)?.account;
        let m = request.into_inner();
        let connections = self
            .service
            .list_connections(&account, &m.provider, &m.end_user_id)
            .await?
            .into_iter()
            .map(connection_to_pb)
            .collect();
        Ok(Response::new(pb::ListConnectionsResponse { connections }))
    }

    #[instrument(skip_all, err(level = "debug"))]
    async fn set_redirect_uris(
        &self,
        request: Request<pb::SetRedirectUrisRequest>,
    ) -> Result<Response<pb::RedirectUris>, Status> {
        let account = self.service.mesh.caller(&request)?.account;
        let redirect_uris = self
            .service
            .set_redirect_uris(&account, request.into_inner().redirect_uris)
            .await?;
        Ok(Response::new(pb::RedirectUris { redirect_uris }))
    }

    #[instrument(skip_all, err(level = "debug"))]
    async fn get_redirect_uris(
        &self,
        request: Request<pb::GetRedirectUrisRequest>,
    ) -> Result<Response<pb::RedirectUris>, Status> {
        let account = self.service.mesh.caller(&request)?.account;
        let redirect_uris = self.service.redirect_uris(&account).await?;
        Ok(Response::new(pb::RedirectUris { redirect_uris }))
    }

    // No `instrument` fields: the code and state are secrets.
    #[instrument(skip_all, err(level = "debug"))]
    async fn exchange_code(
        &self,
        request: Request<pb::ExchangeCodeRequest>,
    ) -> Result<Response<pb::ExchangeCodeResponse>, Status> {
        let account = self.service.mesh.caller(&request)?.account;
        let m = request.into_inner();
        let exchanged = self
            .service
            .exchange_code(
                &account,
                ExchangeRequest {
                    code: m.code,
                    provider: m.provider,
                    redirect_uri: m.redirect_uri,
                    state: m.state,
                },
            )
            .await?;
        Ok(Response::new(pb::ExchangeCodeResponse {
            provider: exchanged.provider,
            scopes: exchanged.scopes,
            expires_at_ms: exchanged.expires_at_ms,
            connection_id: exchanged.connection_id.into_string(),
            end_user_id: exchanged.end_user_id,
        }))
    }

    #[instrument(skip_all, err(level = "debug"))]
    async fn set_oauth_app(&self, request: Request<pb::SetOauthAppRequest>) -> Result<Response<pb::OauthApp>, Status> {
        let Caller { account, actor } = self.service.mesh.caller(&request)?;
        let m = request.into_inner();
        let app = self
            .service
            .set_app(&account, actor.as_deref(), &m.provider, &m.client_id, &m.client_secret)
            .await?;
        Ok(Response::new(app_to_pb(app)))
    }

    #[instrument(skip_all, err(level = "debug"))]
    async fn list_oauth_apps(
        &self,
        request: Request<pb::ListOauthAppsRequest>,
    ) -> Result<Response<pb::ListOauthAppsResponse>, Status> {
        let account = self.service.mesh.caller(&request)?.account;
        let apps = self
            .service
            .list_apps(&account)
            .await?
            .into_iter()
            .map(app_to_pb)
            .collect();
        Ok(Response::new(pb::ListOauthAppsResponse { apps }))
    }

    #[instrument(skip_all, err(level = "debug"))]
    async fn delete_oauth_app(
        &self,
        request: Request<pb::DeleteOauthAppRequest>,
    ) -> Result<Response<pb::DeleteOauthAppResponse>, Status> {
        let Caller { account, actor } = self.service.mesh.caller(&request)?;
        let provider = request.into_inner().provider;
        self.service.delete_app(&account, actor.as_deref(), &provider).await?;
        Ok(Response::new(pb::DeleteOauthAppResponse {}))
    }

    #[instrument(skip_all, err(level = "debug"))]
    async fn create_connect_link(
        &self,
        request: Request<pb::CreateConnectLinkRequest>,
    ) -> Result<Response<pb::ConnectLink>, Status> {
        // The link is where the flow starts for the plan: opening it comes with no API key, so no
        // plan, and is held to nothing more (docs/plans.md).
        let (account, session) = self.flow_start(request).await?;
        let link = self.service.create_connect_link(&account, session).await?;
        Ok(Response::new(link_to_pb(link)))
    }

    // No account: the link's token names it. No `instrument` fields: the token is a secret.
    #[instrument(skip_all, err(level = "debug"))]
    async fn open_connect_link(
        &self,
        request: Request<pb::OpenConnectLinkRequest>,
    ) -> Result<Response<pb::CreateSessionResponse>, Status> {
        self.service.mesh.require_mesh_call(&request)?;
        let m = request.into_inner();
        let session = self.service.open_connect_link(&m.provider, &m.token).await?;
        Ok(Response::new(pb::CreateSessionResponse {
            url: session.url,
            session_id: session.id.into_string(),
            expires_at_ms: session.expires_at_ms,
        }))
    }

    // No `instrument` fields: the session string and api hash are secrets.
    #[instrument(skip_all, err(level = "debug"))]
    async fn set_mtproto_session(
        &self,
        request: Request<pb::SetMtprotoSessionRequest>,
    ) -> Result<Response<pb::MtprotoSession>, Status> {
        let Caller { account, actor } = self.service.mesh.caller(&request)?;
        let m = request.into_inner();
        let session = self
            .service
            .set_mtproto_session(
                &account,
                actor.as_deref(),
                &m.provider,
                &m.session_string,
                &m.api_id,
                &m.api_hash,
            )
            .await?;
        Ok(Response::new(mtproto_to_pb(session)))
    }

    #[instrument(skip_all, err(level = "debug"))]
    async fn get_mtproto_session(
        &self,
        request: Request<pb::GetMtprotoSessionRequest>,
    ) -> Result<Response<pb::MtprotoSession>, Status> {
        let account = self.service.mesh.caller(&request)?.account;
        let provider = request.into_inner().provider;
        let session = self.service.mtproto_session(&account, &provider).await?;
        Ok(Response::new(mtproto_to_pb(session)))
    }

    #[instrument(skip_all, err(level = "debug"))]
    async fn delete_mtproto_session(
        &self,
        request: Request<pb::DeleteMtprotoSessionRequest>,
    ) -> Result<Response<pb::DeleteMtprotoSessionResponse>, Status> {
        let Caller { account, actor } = self.service.mesh.caller(&request)?;
        let provider = request.into_inner().provider;
        self.service
            .delete_mtproto_session(&account, actor.as_deref(), &provider)
            .await?;
        Ok(Response::new(pb::DeleteMtprotoSessionResponse {}))
    }

    #[instrument(skip_all, err(level = "debug"))]
    async fn count_usage(
        &self,
        request: Request<pb::CountUsageRequest>,
    ) -> Result<Response<pb::CountUsageResponse>, Status> {
        let count = latchkey_server::plans::count_for_caller(
            &self.service.mesh,
            &self.service.db,
            &request,
            crate::plan_limit::COUNT_CONNECTIONS,
            "oauth",
        )
        .await?;
        Ok(Response::new(pb::CountUsageResponse { count }))
    }
}
