//! The harness: a receiver that records every delivery and answers as the test scripts it, and a
//! webhook service on its own runtime that can be killed and started again on the same database.

use std::{
    collections::VecDeque,
    net::SocketAddr,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use axum::{Router, extract::State, http::HeaderMap, response::IntoResponse, routing::post};
use base64::{Engine, engine::general_purpose::STANDARD};
use hmac::{Hmac, KeyInit, Mac};
use latchkey_events::{Envelope, EventBus, catalogue::TokenIssued};
use latchkey_ids::{AccountId, EndpointId};
use latchkey_server::MeshAuth;
use latchkey_storage::{Backend, Db};
use latchkey_test_support::{
    NatsServer, RunningConsumer, TestDatabase, eventually, nats_bus, read_until, unique_prefix,
};
use latchkey_webhook::{Attempt, Webhook, WebhookConfig};
use sha2::Sha256;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// The account `id` (`acct_…`), as the mesh hands it to the service.
pub fn account(id: &str) -> AccountId {
    AccountId::parse(id).expect("an account id")
}

/// Timings that run the whole retry story in well under a second.
pub fn fast_config() -> WebhookConfig {
    WebhookConfig {
        allow_loopback: true,
        request_timeout_ms: 1_000,
        retry_initial_ms: 50,
        retry_max_ms: 400,
        max_attempts: 50,
        poll_interval_ms: 20,
        lease_ms: 1_500,
        ..WebhookConfig::default()
    }
}

/// One request as the receiver saw it.
#[derive(Clone, Debug)]
pub struct Received {
    pub id: String,
    pub timestamp: String,
    pub signature: String,
    pub body: String,
    /// What the receiver answered.
    pub status: u16,
    /// When it arrived.
    pub at: Instant,
}

#[derive(Clone, Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(&'static str, String)>,
    pub body: String,
}

impl Reply {
    pub fn status(status: u16) -> Self {
        Self {
            status,
            headers: Vec::new(),
            body: String::new(),
        }
    }
}

#[derive(Default)]
struct ReceiverState {
    /// Answers for the next requests, in order; then `otherwise`.
    script: VecDeque<Reply>,
    otherwise: Option<Reply>,
    /// Gates for the next requests, in order: each is recorded at once and answered only when its
    /// gate opens (is cancelled).
    holds: VecDeque<CancellationToken>,
    received: Vec<Received>,
}

/// An HTTP receiver on loopback.
#[derive(Clone)]
pub struct Receiver {
    state: Arc<Mutex<ReceiverState>>,
    pub addr: SocketAddr,
    stop: CancellationToken,
}

async fn receive(
    State(state): State<Arc<Mutex<ReceiverState>>>,
    headers: HeaderMap,
    body: String,
) -> impl IntoResponse {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|value| value.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    let (reply, hold) = {
        let mut state = state.lock().unwrap();
        let reply = state
            .script
            .pop_front()
            .or_else(|| state.otherwise.clone())
            .unwrap_or(Reply::status(200));
        state.received.push(Received {
            id: header("webhook-id"),
            timestamp: header("webhook-timestamp"),
            signature: header("webhook-signature"),
            body,
            status: reply.status,
            at: Instant::now(),
        });
        (reply, state.holds.pop_front())
    };
    if let Some(gate) = hold {
        gate.cancelled().await;
    }
    let mut response_headers = HeaderMap::new();
    for (name, value) in &reply.headers {
        response_headers.insert(*name, value.parse().unwrap());
    }
    (
        axum::http::StatusCode::from_u16(reply.status).unwrap(),
        response_headers,
        reply.body,
    )
}

impl Receiver {
    /// Listens on a free loopback port.
    pub async fn start() -> Self {
        Self::start_on(TcpListener::bind("127.0.0.1:0").await.unwrap()).await
    }

    async fn start_on(listener: TcpListener) -> Self {
        let state = Arc::new(Mutex::new(ReceiverState::default()));
        Self::serve(listener, state).await
    }

    async fn serve(listener: TcpListener, state: Arc<Mutex<ReceiverState>>) -> Self {
        let addr = listener.local_addr().unwrap();
        let stop = CancellationToken::new();
        let router = Router::new().fallback(post(receive)).with_state(state.clone());
        let stopped = stop.clone().cancelled_owned();
        tokio::spawn(async move {
            axum::serve(listener, router)
                .with_graceful_shutdown(stopped)
                .await
                .unwrap();
        });
        Self { state, addr, stop }
    }

    pub fn url(&self) -> String {
        format!("http://{}/hooks", self.addr)
    }

    /// Answers `replies` to the next requests, in order.
    pub fn script(&self, replies: impl IntoIterator<Item = Reply>) {
        self.state.lock().unwrap().script.extend(replies);
    }

    /// Keeps the next request waiting for its answer until `gate` is cancelled; it is recorded as
    /// received at once.
    pub fn hold_next(&self, gate: &CancellationToken) {
        self.state.lock().unwrap().holds.push_back(gate.clone());
    }

    /// Answers `reply` once the script is spent.
    pub fn otherwise(&self, reply: Reply) {
        self.state.lock().unwrap().otherwise = Some(reply);
    }

    pub fn received(&self) -> Vec<Received> {
        self.state.lock().unwrap().received.clone()
    }

    /// Stops listening: connections are refused from now on.
    pub async fn go_down(&self) {
        self.stop.cancel();
        // The port must refuse before the test goes on.
        let refused = eventually(Duration::from_secs(10), || async {
            tokio::net::TcpStream::connect(self.addr).await.is_err()
        })
        .await;
        assert!(refused, "the receiver would not go down");
    }

    /// Listens again on the same port, keeping what it received.
    pub async fn come_back(&self) -> Self {
        let listener = TcpListener::bind(self.addr).await.unwrap();
        Self::serve(listener, self.state.clone()).await
    }
}

/// Verifies a delivery the way the Standard Webhooks specification says, with `secret`.
pub fn verify(secret: &str, received: &Received) -> bool {
    let key = STANDARD.decode(secret.strip_prefix("whsec_").unwrap()).unwrap();
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).unwrap();
    mac.update(format!("{}.{}.{}", received.id, received.timestamp, received.body).as_bytes());
    let expected = format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()));
    received.signature.split(' ').any(|signature| signature == expected)
}

/// Everything a webhook test stands on: a database, NATS, and a handle on the service's domain.
pub struct World {
    pub database: TestDatabase,
    pub nats: NatsServer,
    pub prefix: String,
    pub bus: EventBus,
    /// The service's domain, for what the API would do (register endpoints, list attempts).
    pub api: Webhook,
    pub config: WebhookConfig,
}

pub const MESH_TOKEN: &str = "webhook-test-service-token";

impl World {
    pub async fn new(backend: Backend, config: WebhookConfig) -> Self {
        let database = TestDatabase::new(backend).await;
        let nats = NatsServer::spawn().await;
        let prefix = unique_prefix();
        let bus = nats_bus(&nats.url(), &prefix).await;
        let db = Db::connect(database.url()).await.expect("open the database");
        let api = Webhook::open(db, MeshAuth::new(MESH_TOKEN), config.clone())
            .await
            .expect("open the webhook service");
        Self {
            database,
            nats,
            prefix,
            bus,
            api,
            config,
        }
    }

    /// The endpoint's recorded attempts (newest first) once `settled` holds for them, or the last
    /// ones read when it never does within `deadline`. A receiver sees a delivery before the
    /// service records its outcome, so a test waits on the record, not on the receiver.
    pub async fn attempts_once(
        &self,
        account: &AccountId,
        endpoint_id: &EndpointId,
        deadline: Duration,
        settled: impl Fn(&[Attempt]) -> bool,
    ) -> Vec<Attempt> {
        read_until(
            deadline,
            || async {
                self.api
                    .list_attempts(account, endpoint_id, 0, None)
                    .await
                    .expect("list attempts")
                    .attempts
            },
            |attempts| settled(attempts),
        )
        .await
    }

    /// Starts an instance of the service (consumer, worker, relay, gRPC) on a runtime of its own,
    /// which the test can kill as a crash would.
    pub fn start_service(&self) -> RunningConsumer {
        let (url, nats_url, prefix, config) = (
            self.database.url().to_owned(),
            self.nats.url(),
            self.prefix.clone(),
            self.config.clone(),
        );
        RunningConsumer::start(|stop| async move {
            let db = Db::connect(&url).await.expect("open the database");
            let bus = nats_bus(&nats_url, &prefix).await;
            let service = Webhook::open(db, MeshAuth::new(MESH_TOKEN), config)
                .await
                .expect("open");
            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            service.run(listener, bus, stop).await.expect("run the webhook service");
        })
    }

    /// Publishes `count` token.issued events of `account`; answers their envelopes.
    pub async fn publish_tokens(&self, account: &str, count: usize) -> Vec<Envelope> {
        let events: Vec<Envelope> = (0..count)
            .map(|n| {
                let event = TokenIssued {
                    jti: format!("jti-{n}-{}", uuid::Uuid::now_v7().simple()),
                    agent_id: "agt_test".to_owned(),
                    scope: vec!["secrets.read".to_owned()],
                    audience: "https://api.example.com".to_owned(),
                    expires_at: 1_900_000_000,
                    intent: None,
                    delegated_from: None,
                };
                let mut envelope = Envelope::new("/latchkey/agent-token", account, Some("key_test"), &event);
                envelope.decisionid = Some(format!("dec_{n}"));
                envelope
            })
            .collect();
        for chunk in events.chunks(500) {
            self.bus.publish(chunk).await.expect("publish");
        }
        events
    }

    /// Every event of `event_type` the service emitted on the bus so far (read from the stream).
    pub async fn emitted(&self, event_type: &str) -> Vec<Envelope> {
        let mut subscription = self
            .bus
            .replay(
                latchkey_events::EventFilter::event_type(event_type),
                chrono::DateTime::UNIX_EPOCH,
            )
            .await
            .expect("replay");
        let mut events = Vec::new();
        loop {
            match tokio::time::timeout(Duration::from_secs(5), subscription.next_step()).await {
                Ok(Some(Ok(latchkey_events::Step::Event(delivery)))) => events.push(delivery.envelope.clone()),
                Ok(Some(Ok(_caught_up))) => return events,
                _ => return events,
            }
        }
    }
}
