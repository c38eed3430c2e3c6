//! The oauth service: the provider catalogue (`providers.toml`), OAuth authorization sessions with
//! PKCE and single-use state, the callback (or AGNT's `/auth/exchange`) that turns a code into a
//! connection, the tokens of each connection, kept in the vault and refreshed race-free
//! (docs/oauth.md explains the lease), the accounts' own OAuth apps, connect links (a single-use URL
//! that starts an authorization in a browser holding no API key) and MTProto (Telegram) sessions.
//! It owns its tables (sessions, connections, allowed redirect URIs, refresh leases; never a
//! token), answers over gRPC to mesh callers only, and announces connections through its outbox.

mod apps;
mod catalogue;
mod config;
mod connections;
mod end_users;
mod error;
mod exchange;
mod grpc;
mod links;
mod mtproto;
mod plan_limit;
mod provider;
mod proxy_credentials;
mod redirect_uris;
mod refresh;
mod sessions;
mod token_set;
mod vault;

use std::sync::Arc;

use latchkey_events::{EventBus, Outbox};
use latchkey_proto::{
    oauth::v1::oauth_service_server::OauthServiceServer, vault::v1::vault_service_client::VaultServiceClient,
};
use latchkey_server::{MeshAuth, MeshChannel, ServiceRun};
use latchkey_storage::{Db, Migration, migrations};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

pub use apps::OauthApp;
pub use catalogue::{Catalogue, Provider, ProviderKind, ProxyAuth};
pub use config::{ClientCredentials, OauthConfig};
pub use connections::{Connection, FetchedToken};
pub use end_users::USER_DELETIONS_CONSUMER;
pub use error::OauthError;
pub use exchange::{ExchangeRequest, Exchanged};
pub use links::{ConnectLink, TOKEN_LEN as CONNECT_LINK_TOKEN_LEN, well_formed as is_connect_link_token};
pub use mtproto::{MAX_SESSION_STRING_LEN, MtprotoSummary, check_api_hash, check_api_id, check_session_string};
pub use proxy_credentials::{CredentialUse, ProxyCredential};
pub use sessions::{CallbackOutcome, NewSession, SessionFlow, SessionRequest};

/// The `source` of every event this service emits.
pub const EVENT_SOURCE: &str = "/latchkey/oauth";
/// The fully qualified gRPC service name, as health reports it.
pub const GRPC_SERVICE: &str = "latchkey.oauth.v1.OauthService";

const MIGRATIONS: &[Migration] = migrations![(1, "0001_oauth"), (2, "0002_session_flow"), (3, "0003_connect_links")];

/// The service's state. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Oauth {
    db: Db,
    outbox: Outbox,
    mesh: MeshAuth,
    vault: vault::Vault,
    providers: provider::Providers,
    catalogue: Arc<Catalogue>,
    config: Arc<OauthConfig>,
    /// The deployment's plans: the limit on connections.
    plans: latchkey_server::Plans,
    /// Refreshes at the provider, run apart from the fetch that started them (`refresh`).
    refreshes: latchkey_server::Tasks,
}

/// Brings `db` to this build's schema: the service's migrations, then the outbox's, each under the
/// migration lock, so replicas and `latchkey migrate oauth` may run it at the same time. What
/// [`Oauth::open`] does first; answers the outbox it opened.
pub async fn migrate(db: &Db) -> Result<Outbox, OauthError> {
    db.migrate("oauth", MIGRATIONS).await?;
    Ok(Outbox::open(db.clone(), EVENT_SOURCE).await?)
}

impl Oauth {
    /// Opens the service on `db`, applying its migrations. `vault` keeps every token and app secret.
    pub async fn open(
        db: Db,
        mesh: MeshAuth,
        vault: VaultServiceClient<MeshChannel>,
        config: OauthConfig,
    ) -> Result<Self, OauthError> {
        let outbox = migrate(&db).await?;
        let catalogue = config.catalogue().map_err(OauthError::Catalogue)?;
        let config = Arc::new(config);
        Ok(Self {
            db,
            outbox,
            mesh,
            vault: vault::Vault::new(vault),
            providers: provider::Providers::new(config.clone()),
            catalogue: Arc::new(catalogue),
            config,
            plans: latchkey_server::Plans::default(),
            refreshes: latchkey_server::Tasks::new("oauth"),
        })
    }

    /// Sets the deployment's plans (the default: one unlimited plan).
    #[must_use]
    pub fn with_plans(mut self, plans: latchkey_server::Plans) -> Self {
        self.plans = plans;
        self
    }

    /// The providers this deployment enables, with whether OAuth sessions can start for them.
    pub fn enabled_providers(&self) -> Vec<(&Provider, bool)> {
        self.catalogue
            .all()
            .filter(|provider| self.providers.is_enabled(provider))
            .map(|provider| {
                let configured = match provider.kind {
                    ProviderKind::ApiKey => true,
                    ProviderKind::Oauth2 | ProviderKind::Mtproto => {
                        self.providers.deployment_app(&provider.code).is_some()
                    }
                };
                (provider, configured)
            })
            .collect()
    }

    /// The catalogue entry of `code`, when this deployment enables it.
    fn provider(&self, code: &str) -> Result<&Provider, OauthError> {
        self.catalogue
            .get(code)
            .filter(|provider| self.providers.is_enabled(provider))
            .ok_or_else(|| {
                OauthError::field(
                    "provider",
                    format!("unknown provider {code:?}; GET /docs/providers lists them"),
                )
            })
    }

    /// Serves gRPC on `listener`, relays the outbox to `bus` and disconnects deleted directory users
    /// (`end_users`) until `shutdown` is cancelled.
    pub async fn run(
        self,
        listener: TcpListener,
        bus: EventBus,
        shutdown: CancellationToken,
    ) -> Result<(), OauthError> {
        let run = ServiceRun::start("oauth", &self.mesh, shutdown.clone()).depends_on(&self.db, &bus);
        run.relay_outbox(self.outbox.clone(), bus.clone());
        run.tasks()
            .spawn("user-deletions", self.clone().forget_deleted_users(bus, shutdown));
        let routes = tonic::service::Routes::new(OauthServiceServer::new(grpc::GrpcApi::new(self)));
        Ok(run.serve(listener, routes, &[GRPC_SERVICE]).await?)
    }
}
