//! The kill suite: the mesh as separate processes with two replicas of the services that hand work
//! over between them, on a PostgreSQL server and a NATS server of the suite's own, under a steady
//! load of account activity, while one fault after another strikes. After each fault: every
//! committed event is in the audit chain exactly once and in order, the chain verifies, every
//! webhook message reached its receiver, and revoked keys stay refused by every gateway.
//!
//! `make faults` runs every scenario (`LATCHKEY_FAULTS=full`) and prints one summary line; the
//! test suite runs the fast slice: one kill and one restart (docs/operations.md).

use std::{
    collections::{BTreeMap, BTreeSet, HashMap},
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use latchkey_test_support::{NatsCluster, NatsServer, PostgresServer, eventually};
use serde_json::{Value, json};
use tonic_health::pb::health_check_response::ServingStatus;

use crate::process_mesh::ProcessMesh;

/// The names of the keys the load creates start with this.
const LOAD_PREFIX: &str = "load-";

/// What one scenario found.
#[derive(Debug, Default)]
struct Findings {
    events: usize,
    lost: usize,
    duplicated: usize,
}

/// What the load wrote, as its answers told it.
#[derive(Debug, Default)]
struct Ledger {
    /// Keys created: name → (id, secret) when the API said 201; absent names were uncertain (the
    /// request failed: it may or may not have committed).
    committed: BTreeMap<String, (String, String)>,
    uncertain: BTreeSet<String>,
    /// Secrets of keys the API said it deleted.
    revoked: Vec<String>,
}

/// The webhook receiver: the names of the keys whose `api_key.created` arrived, and how often.
#[derive(Clone, Default)]
struct Received(Arc<Mutex<HashMap<String, usize>>>);

impl Received {
    async fn start(&self) -> String {
        let received = self.clone();
        let answer = move |body: String| {
            let received = received.clone();
            async move {
                if let Ok(event) = serde_json::from_str::<Value>(&body)
                    && let Some(name) = event["data"]["name"].as_str()
                {
                    *received.0.lock().unwrap().entry(name.to_owned()).or_default() += 1;
                }
                axum::http::StatusCode::NO_CONTENT
            }
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hooks", listener.local_addr().unwrap());
        tokio::spawn(
            async move { axum::serve(listener, axum::Router::new().fallback(axum::routing::post(answer))).await },
        );
        url
    }

    fn names(&self) -> HashMap<String, usize> {
        self.0.lock().unwrap().clone()
    }
}

/// The suite's NATS: one server, or a three-node cluster with the stream on all three.
enum Nats {
    Server(NatsServer),
    Cluster(NatsCluster),
}

impl Nats {
    fn urls(&self) -> String {
        match self {
            Self::Server(server) => server.url(),
            Self::Cluster(cluster) => cluster.urls(),
        }
    }

    /// The permissions violations the server or the cluster's nodes logged: none, as every
    /// service uses only its own subjects (`crate::nats_users`).
    fn violations(&self) -> Vec<String> {
        let logs = match self {
            Self::Server(server) => vec![server.log()],
            Self::Cluster(cluster) => cluster.logs(),
        };
        logs.iter().flat_map(|log| crate::nats_users::violations(log)).collect()
    }

    fn server(&mut self) -> &mut NatsServer {
        match self {
            Self::Server(server) => server,
            Self::Cluster(_) => panic!("a scenario for one NATS server ran on a cluster"),
        }
    }

    fn cluster(&mut self) -> &mut NatsCluster {
        match self {
            Self::Cluster(cluster) => cluster,
            Self::Server(_) => panic!("a scenario for a NATS cluster ran on one server"),
        }
    }
}

/// The suite's world: its own PostgreSQL and NATS, the mesh on them, an account with a webhook
/// endpoint, and what the load wrote so far.
struct Suite {
    postgres: PostgresServer,
    nats: Nats,
    mesh: ProcessMesh,
    http: reqwest::Client,
    key: String,
    ledger: Arc<Mutex<Ledger>>,
    received: Received,
    findings: Vec<(String, Findings)>,
}

impl Suite {
    async fn start(nats: Nats, replicas_of: impl Fn(&str) -> usize, settings: &[(&str, &str)]) -> Self {
        let postgres = PostgresServer::spawn();
        postgres.create_database("latchkey");
        let mut settings = settings.to_vec();
        // A crashed webhook worker's messages come back after 5 s rather than a minute.
        settings.push(("LATCHKEY__WEBHOOK__LEASE_MS", "5000"));
        // A plan whose limit the replicas must hold together.
        settings.push(("LATCHKEY__PLANS__LIMITED__AGENTS", "3"));
        if matches!(nats, Nats::Cluster(_)) {
            settings.push(("LATCHKEY__NATS__STREAM_REPLICAS", "3"));
        }
        let mesh = ProcessMesh::start(&postgres.url("latchkey"), &nats.urls(), replicas_of, &settings).await;
        mesh.wait_ready().await;
        let key = mesh.create_account("Faults");
        let received = Received::default();
        let url = received.start().await;
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .unwrap();
        // A gateway's first call to a service that came up after it may fail once (its channel
        // reports the connection that failed before): asked again, as a client would.
        let created = eventually(Duration::from_secs(10), || async {
            let created = http
                .post(format!("{}/v1/webhooks", mesh.gateway(0)))
                .bearer_auth(&key)
                .json(&json!({"url": url, "events": ["api_key.created"]}))
                .send()
                .await;
            created.is_ok_and(|answer| answer.status() == 201)
        })
        .await;
        assert!(created, "the webhook endpoint could not be created");
        Self {
            postgres,
            nats,
            mesh,
            http,
            key,
            ledger: Arc::default(),
            received,
            findings: Vec::new(),
        }
    }

    /// Runs `fault` under load: the load runs for a while before it, through it and after it,
    /// then stops, and the suite's checks run.
    async fn scenario<F>(&mut self, name: &str, fault: F)
    where
        F: AsyncFnOnce(&mut Self),
    {
        let running = Arc::new(AtomicBool::new(true));
        let gateways: Vec<String> = (0..self.mesh.replicas_of("gateway"))
            .map(|r| self.mesh.gateway(r))
            .collect();
        let workers: Vec<_> = (0..load_workers())
            .map(|worker| {
                tokio::spawn(load(
                    self.http.clone(),
                    gateways.clone(),
                    self.key.clone(),
                    format!("{name}-w{worker}"),
                    self.ledger.clone(),
                    running.clone(),
                ))
            })
            .collect();
        tokio::time::sleep(Duration::from_secs(2)).await;
        fault(self).await;
        self.mesh.wait_ready().await;
        tokio::time::sleep(Duration::from_secs(2)).await;
        running.store(false, Ordering::Release);
        for worker in workers {
            worker.await.unwrap();
        }
        let findings = self.check(name).await;
        println!(
            "fault {name}: {} events, {} lost, {} duplicated",
            findings.events, findings.lost, findings.duplicated
        );
        self.findings.push((name.to_owned(), findings));
    }

    /// The checks after a fault (see the module's doc); panics naming what failed.
    async fn check(&self, scenario: &str) -> Findings {
        let (committed, uncertain, revoked) = {
            let ledger = self.ledger.lock().unwrap();
            (
                ledger.committed.clone(),
                ledger.uncertain.clone(),
                ledger.revoked.clone(),
            )
        };
        // Every committed key's event reaches the chain (a takeover may wait out the bus's 30 s ack
        // wait first).
        let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
        let (chain, complete) = loop {
            let chain = self.chain().await.unwrap_or_default();
            let names = created_names(&chain);
            let complete = committed.keys().all(|name| names.contains_key(name));
            if complete || tokio::time::Instant::now() >= deadline {
                break (chain, complete);
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        };
        let names = created_names(&chain);
        let lost: Vec<&String> = committed.keys().filter(|name| !names.contains_key(*name)).collect();
        let duplicated: Vec<(&String, &usize)> = names.iter().filter(|(_, count)| **count > 1).collect();
        let ids: BTreeSet<&str> = chain.iter().filter_map(|e| e["event_id"].as_str()).collect();
        let seqs: Vec<i64> = chain.iter().filter_map(|e| e["seq"].as_i64()).collect();
        let findings = Findings {
            events: chain.len(),
            lost: lost.len(),
            duplicated: duplicated.len() + (chain.len() - ids.len()),
        };
        assert!(complete && lost.is_empty(), "{scenario}: events lost: {lost:?}");
        assert!(
            names
                .keys()
                .filter(|name| name.starts_with(LOAD_PREFIX))
                .all(|name| committed.contains_key(name) || uncertain.contains(name)),
            "{scenario}: the chain holds a key the load never asked for"
        );
        assert_eq!(findings.duplicated, 0, "{scenario}: duplicated: {duplicated:?}");
        assert_eq!(
            seqs,
            (1..=chain.len() as i64).collect::<Vec<_>>(),
            "{scenario}: the chain has a gap"
        );
        let verified = self.get("/v1/audit/verify").await.expect("verify the chain");
        assert_eq!(verified["valid"], true, "{scenario}: {verified}");

        // Every committed key's webhook message reached the receiver.
        let delivered = eventually(Duration::from_secs(120), || async {
            let received = self.received.names();
            committed.keys().all(|name| received.contains_key(name))
        })
        .await;
        let received = self.received.names();
        let undelivered: Vec<&String> = committed.keys().filter(|n| !received.contains_key(*n)).collect();
        assert!(delivered, "{scenario}: webhook messages never arrived: {undelivered:?}");
        // Each message goes to one worker per attempt: twice only when the worker that sent it died
        // before it could record the answer (at least once).
        if scenario != "kill-webhook" {
            let twice: Vec<(&String, &usize)> = received
                .iter()
                .filter(|(name, count)| name.contains(&format!("{LOAD_PREFIX}{scenario}-w")) && **count > 1)
                .collect();
            assert!(
                twice.is_empty(),
                "{scenario}: webhook messages delivered twice: {twice:?}"
            );
        }

        // Revoked keys stay refused by every gateway.
        for replica in 0..self.mesh.replicas_of("gateway") {
            let base = self.mesh.gateway(replica);
            for secret in &revoked {
                let answer = self
                    .http
                    .get(format!("{base}/v1/api-keys"))
                    .bearer_auth(secret)
                    .send()
                    .await
                    .unwrap();
                assert_eq!(
                    answer.status(),
                    401,
                    "{scenario}: gateway {replica} accepted a deleted key"
                );
            }
        }
        findings
    }

    /// The account's whole chain, oldest first.
    async fn chain(&self) -> Option<Vec<Value>> {
        let mut entries = Vec::new();
        let mut cursor = String::new();
        loop {
            let page = self
                .get(&format!("/v1/audit?order=oldest&limit=500&cursor={cursor}"))
                .await?;
            entries.extend(page["data"].as_array()?.iter().cloned());
            match page["next_cursor"].as_str() {
                Some(next) => cursor = next.to_owned(),
                None => return Some(entries),
            }
        }
    }

    /// POSTs `body` to `path` of the gateway at `base` as the suite's account; answers the status
    /// and the JSON body.
    async fn post(&self, base: &str, path: &str, body: Value) -> (u16, Value) {
        let answer = self
            .http
            .post(format!("{base}{path}"))
            .bearer_auth(&self.key)
            .json(&body)
            .send()
            .await
            .unwrap();
        let status = answer.status().as_u16();
        (status, answer.json().await.unwrap_or_default())
    }

    async fn get(&self, path: &str) -> Option<Value> {
        let answer = self
            .http
            .get(format!("{}{path}", self.mesh.gateway(0)))
            .bearer_auth(&self.key)
            .send()
            .await
            .ok()?;
        if !answer.status().is_success() {
            eprintln!(
                "GET {path}: {} {}",
                answer.status(),
                answer.text().await.unwrap_or_default()
            );
            return None;
        }
        answer.json().await.ok()
    }

    /// The replica of `service` that holds the lease `lease` (the one doing the work only one
    /// does), found by the process id its holder id starts with.
    fn holder_of(&self, service: &str, lease: &str) -> usize {
        let holder = self.postgres.psql(
            "latchkey",
            &format!("SELECT holder FROM latchkey_leases WHERE name = '{lease}'"),
        );
        let pid: u32 = holder.split('-').next().and_then(|p| p.parse().ok()).unwrap_or(0);
        (0..self.mesh.replicas_of(service))
            .find(|r| self.mesh.pid(service, *r) == Some(pid))
            .unwrap_or_else(|| panic!("no replica of {service} holds {lease} (holder {holder:?})"))
    }

    /// Kills `service`'s `replica` (SIGKILL), lets the load run on without it, starts it again
    /// and waits until it serves.
    async fn kill_and_restart(&mut self, service: &'static str, replica: usize) {
        self.mesh.kill(service, replica);
        // The fault itself: the load runs 3 s against a mesh without this process.
        tokio::time::sleep(Duration::from_secs(3)).await;
        self.mesh.spawn(service, replica);
        if service != "gateway" {
            let serving = eventually(Duration::from_secs(60), || async {
                self.mesh.health(service, replica).await == Some(ServingStatus::Serving)
            })
            .await;
            assert!(
                serving,
                "{service} {replica} did not come back; logs in {}",
                self.mesh.logs().display()
            );
        }
    }

    /// What two replicas must agree on before any fault: one first signing key though both
    /// agent-token replicas started at once on an empty database; a key deleted through one gateway
    /// refused by the other within a second; tokens issued through either replica, before and after
    /// a rotation run with both, verified by every gateway; a throttle and a plan's limit counted
    /// across replicas.
    async fn replicas_agree(&self) {
        let token_kids = |jwks: Value| -> Vec<String> {
            jwks["keys"]
                .as_array()
                .unwrap()
                .iter()
                .filter_map(|k| k["kid"].as_str())
                .filter(|kid| !kid.starts_with("audit-"))
                .map(str::to_owned)
                .collect()
        };
        // The gateway serves the keys once it has fetched them from agent-token.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        let jwks = loop {
            match self.get("/.well-known/jwks.json").await {
                Some(jwks) => break jwks,
                None if tokio::time::Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                None => panic!("the gateway never served its JWKS"),
            }
        };
        assert_eq!(token_kids(jwks).len(), 1, "one first signing key");
        assert_eq!(self.postgres.psql("latchkey", "SELECT COUNT(*) FROM signing_keys"), "1");

        let (one, other) = (self.mesh.gateway(0), self.mesh.gateway(1));
        let (_, created) = self
            .post(&one, "/v1/api-keys", json!({"name": "deleted-through-one"}))
            .await;
        let secret = created["key"].as_str().unwrap().to_owned();
        let used = self
            .http
            .get(format!("{other}/v1/api-keys"))
            .bearer_auth(&secret)
            .send()
            .await
            .unwrap();
        assert_eq!(used.status(), 200, "the other gateway knows the key (and caches it)");
        let deleted = self
            .http
            .delete(format!("{one}/v1/api-keys/{}", created["id"].as_str().unwrap()))
            .bearer_auth(&self.key)
            .send()
            .await
            .unwrap();
        assert_eq!(deleted.status(), 204);
        let refused = eventually(Duration::from_secs(1), || async {
            let answer = self
                .http
                .get(format!("{other}/v1/api-keys"))
                .bearer_auth(&secret)
                .send()
                .await;
            answer.is_ok_and(|a| a.status() == 401)
        })
        .await;
        assert!(refused, "the other gateway still accepted a deleted key after 1 s");

        let (_, agent) = self
            .post(
                &one,
                "/v1/agents",
                json!({"name": "rotation-witness", "owner": "faults"}),
            )
            .await;
        let agent_id = agent["id"].as_str().unwrap_or_else(|| panic!("{agent}")).to_owned();
        let mut tokens = self.issue_tokens(&agent_id).await;
        self.mesh.admin(&["keys", "rotate", "--publish-lead", "0"]);
        for base in [&one, &other] {
            let published = eventually(Duration::from_secs(10), || async {
                let jwks: Value = self
                    .http
                    .get(format!("{base}/.well-known/jwks.json"))
                    .send()
                    .await
                    .unwrap()
                    .json()
                    .await
                    .unwrap();
                token_kids(jwks).len() == 2
            })
            .await;
            assert!(published, "{base} does not publish the new key");
        }
        tokens.extend(self.issue_tokens(&agent_id).await);
        for base in [&one, &other] {
            for token in &tokens {
                let (_, verdict) = self.post(base, "/v1/tokens/verify", json!({"token": token})).await;
                assert_eq!(verdict["valid"], true, "{base}: {verdict}");
            }
        }
        self.throttle_holds_across_replicas(&agent_id).await;
        self.plan_limit_holds_across_replicas().await;

        // A token revoked through one gateway, then its agent: the other refuses both within a
        // second, verifying the token itself.
        let token = tokens.pop().unwrap();
        let (status, revoked) = self.post(&one, "/v1/tokens/revoke", json!({"token": token})).await;
        assert_eq!(status, 200, "{revoked}");
        self.refused_within_a_second(&other, &token, "a revoked token").await;
        let token = tokens.pop().unwrap();
        let (status, revoked) = self
            .post(&one, &format!("/v1/agents/{agent_id}/revoke"), json!({}))
            .await;
        assert_eq!(status, 200, "{revoked}");
        self.refused_within_a_second(&other, &token, "the token of a revoked agent")
            .await;
    }

    /// A plan's limit of three agents holds across the replicas: eight agents asked for at once
    /// through both gateways (so both agent-token replicas) get three.
    async fn plan_limit_holds_across_replicas(&self) {
        let key = self.mesh.create_account_on_plan("Limited", "limited");
        let mut asks = Vec::new();
        for round in 0..8 {
            let (http, base, key) = (self.http.clone(), self.mesh.gateway(round % 2), key.clone());
            asks.push(tokio::spawn(async move {
                http.post(format!("{base}/v1/agents"))
                    .bearer_auth(key)
                    .json(&json!({"name": format!("limited-{round}"), "owner": "faults"}))
                    .send()
                    .await
                    .unwrap()
                    .status()
                    .as_u16()
            }));
        }
        let mut statuses = Vec::new();
        for ask in asks {
            statuses.push(ask.await.unwrap());
        }
        statuses.sort_unstable();
        assert_eq!(
            statuses,
            [201, 201, 201, 402, 402, 402, 402, 402],
            "the plan's limit across the replicas"
        );
    }

    /// Whether the gateway at `base` finds `token` invalid within a second.
    async fn refused_within_a_second(&self, base: &str, token: &str, what: &str) {
        let refused = eventually(Duration::from_secs(1), || async {
            let (_, verdict) = self.post(base, "/v1/tokens/verify", json!({"token": token})).await;
            verdict["valid"] == false
        })
        .await;
        assert!(refused, "{base} still accepted {what} after 1 s");
    }

    /// A throttle of three tokens a minute holds across the replicas: eight requests through the
    /// gateways in turn (so through every agent-token and policy replica) get three tokens.
    async fn throttle_holds_across_replicas(&self, agent_id: &str) {
        let rule = json!({"match": {"scopes": ["throttled.*"]},
            "effect": {"type": "throttle", "limit": 3, "window_secs": 60, "per": "agent"}});
        let (status, created) = self
            .post(
                &self.mesh.gateway(0),
                "/v1/policies",
                json!({"name": "three a minute", "rules": [rule]}),
            )
            .await;
        assert_eq!(status, 201, "{created}");
        // The other policy replica learns of the new policy from the bus (milliseconds, longer on
        // a loaded machine): what is proved here is the counting, which the replicas share in the
        // database. Dry runs (which charge nothing) go round both replicas from each gateway: wait
        // until four in a row decide by the throttle.
        let known_everywhere = eventually(Duration::from_secs(15), || async {
            for round in 0..4 {
                let body = json!({"agent_id": agent_id, "scope": ["throttled.read"], "ttl": 300});
                let (status, answer) = self
                    .post(&self.mesh.gateway(round / 2), "/v1/policies/evaluate", body)
                    .await;
                if status != 200 || answer["effect"] != "throttle" {
                    return false;
                }
            }
            true
        })
        .await;
        assert!(known_everywhere, "a policy replica never learned of the throttle");
        let mut issued = 0;
        for round in 0..8 {
            let body = json!({"agent_id": agent_id, "scope": ["throttled.read"]});
            match self.post(&self.mesh.gateway(round % 2), "/v1/tokens", body).await {
                (201, _) => issued += 1,
                (429, _) => {}
                (other, answer) => panic!("a throttled request answered {other}: {answer}"),
            }
        }
        assert_eq!(issued, 3, "the throttle allowed {issued} of 3 across the replicas");
    }

    /// Four tokens for `agent_id`, through the gateways in turn (and so both agent-token replicas).
    async fn issue_tokens(&self, agent_id: &str) -> Vec<String> {
        let mut tokens = Vec::new();
        for round in 0..4 {
            let body = json!({"agent_id": agent_id, "scope": ["db.read"]});
            let (_, issued) = self.post(&self.mesh.gateway(round % 2), "/v1/tokens", body).await;
            tokens.push(
                issued["token"]
                    .as_str()
                    .unwrap_or_else(|| panic!("{issued}"))
                    .to_owned(),
            );
        }
        tokens
    }

    /// The node of the NATS cluster leading the event stream.
    async fn stream_leader(&mut self) -> usize {
        let client = crate::nats_users::admin()
            .connect(self.nats.urls().split(',').collect::<Vec<_>>())
            .await
            .expect("connect to the cluster");
        let mut stream = async_nats::jetstream::new(client)
            .get_stream("LATCHKEY_EVENTS")
            .await
            .expect("the event stream");
        let info = stream.info().await.expect("the stream's info");
        let leader = info
            .cluster
            .as_ref()
            .and_then(|c| c.leader.clone())
            .expect("a stream leader");
        self.nats.cluster().node_named(&leader).expect("a node of the cluster")
    }
}

/// The summary line `make faults` ends with, over every suite's findings (each suite's last
/// scenario saw its whole chain).
fn summary(suites: &[&[(String, Findings)]]) -> String {
    let all = || suites.iter().flat_map(|findings| findings.iter());
    let events: usize = suites.iter().filter_map(|f| f.last()).map(|(_, f)| f.events).sum();
    let lost: usize = all().map(|(_, f)| f.lost).sum();
    let duplicated: usize = all().map(|(_, f)| f.duplicated).sum();
    format!(
        "faults: {} scenarios, {events} events, {lost} lost, {duplicated} duplicated, chain verified",
        all().count()
    )
}

/// `api_key.created` entries of `chain`, counted by key name.
fn created_names(chain: &[Value]) -> HashMap<String, usize> {
    let mut names = HashMap::new();
    for entry in chain.iter().filter(|e| e["type"] == "api_key.created") {
        if let Some(name) = entry["data"]["name"].as_str() {
            *names.entry(name.to_owned()).or_insert(0) += 1;
        }
    }
    names
}

/// One steady load (`scenario` names it): keys created through the gateways in turn, every fifth one deleted through
/// another, and an agent now and then, until `running` turns false. Each answer goes in the ledger.
async fn load(
    http: reqwest::Client,
    gateways: Vec<String>,
    key: String,
    scenario: String,
    ledger: Arc<Mutex<Ledger>>,
    running: Arc<AtomicBool>,
) {
    let mut i = 0usize;
    while running.load(Ordering::Acquire) {
        i += 1;
        let base = &gateways[i % gateways.len()];
        let name = format!("{LOAD_PREFIX}{scenario}-{i}");
        let created = http
            .post(format!("{base}/v1/api-keys"))
            .bearer_auth(&key)
            .json(&json!({"name": name}))
            .send()
            .await;
        match created {
            Ok(answer) if answer.status() == 201 => {
                let body: Value = answer.json().await.unwrap();
                let id = body["id"].as_str().unwrap().to_owned();
                let secret = body["key"].as_str().unwrap().to_owned();
                // Used once through this gateway, so that gateway has it cached when it is deleted.
                let _ = http
                    .get(format!("{base}/v1/api-keys"))
                    .bearer_auth(&secret)
                    .send()
                    .await;
                ledger.lock().unwrap().committed.insert(name, (id, secret));
            }
            _ => {
                ledger.lock().unwrap().uncertain.insert(name);
            }
        }
        if i.is_multiple_of(5) {
            let victim = {
                let ledger = ledger.lock().unwrap();
                ledger
                    .committed
                    .values()
                    .nth(i % 7)
                    .cloned()
                    .filter(|(_, secret)| !ledger.revoked.contains(secret))
            };
            if let Some((id, secret)) = victim {
                let other = &gateways[(i + 1) % gateways.len()];
                let deleted = http
                    .delete(format!("{other}/v1/api-keys/{id}"))
                    .bearer_auth(&key)
                    .send()
                    .await;
                if deleted.is_ok_and(|answer| answer.status() == 204) {
                    ledger.lock().unwrap().revoked.push(secret);
                }
            }
        }
        if i.is_multiple_of(10) {
            let _ = http
                .post(format!("{base}/v1/agents"))
                .bearer_auth(&key)
                .json(&json!({"name": format!("{scenario}-agent-{i}"), "owner": "faults"}))
                .send()
                .await;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Whether `make faults` asked for every scenario.
fn full() -> bool {
    std::env::var("LATCHKEY_FAULTS").is_ok_and(|v| v == "full")
}

/// How many loads run side by side: four for the full suite, one for its fast slice.
fn load_workers() -> usize {
    if full() { 4 } else { 1 }
}

/// Two replicas of the services that hand work over between them, one of the rest; the full suite
/// runs two of every service.
fn replicas(service: &str) -> usize {
    if full() || matches!(service, "agent-token" | "audit" | "gateway") {
        2
    } else {
        1
    }
}

#[tokio::test]
async fn nothing_is_lost_when_services_die_and_postgres_and_nats_restart() {
    let mut suite = Suite::start(
        Nats::Server(crate::nats_users::mesh_nats().await),
        replicas,
        // A short duplicate window, so an outage outlasts it.
        &[("LATCHKEY__NATS__STREAM_DUPLICATE_WINDOW_SECS", "2")],
    )
    .await;
    suite.replicas_agree().await;

    // The replica relaying agent-token's outbox dies holding its lease: the other takes over.
    suite
        .scenario("kill-agent-token", async |s| {
            let holder = s.holder_of("agent-token", "outbox-relay:/latchkey/agent-token");
            s.kill_and_restart("agent-token", holder).await;
        })
        .await;
    suite
        .scenario("restart-postgres", async |s| {
            s.postgres.restart();
        })
        .await;
    if !full() {
        assert_eq!(suite.nats.violations(), Vec::<String>::new());
        println!("{}", summary(&[&suite.findings]));
        return;
    }

    for service in ["audit", "policy", "vault", "oauth", "webhook", "directory", "gateway"] {
        suite
            .scenario(&format!("kill-{service}"), async |s| {
                let replica = match service {
                    "audit" => s.holder_of("audit", "audit-consumer"),
                    _ => 0,
                };
                s.kill_and_restart(service, replica).await;
            })
            .await;
    }
    suite
        .scenario("nats-down-past-the-duplicate-window", async |s| {
            s.nats.server().stop();
            // The outage: longer than the 2 s duplicate window the suite sets.
            tokio::time::sleep(Duration::from_secs(5)).await;
            s.nats.server().start().await;
        })
        .await;
    suite
        .scenario("gateway-restarted-while-nats-is-down", async |s| {
            let revoked = s.ledger.lock().unwrap().revoked.clone();
            s.nats.server().stop();
            s.mesh.kill("gateway", 0);
            s.mesh.spawn("gateway", 0);
            // While NATS is down the restarted gateway may refuse to answer; it never accepts a
            // deleted key.
            let base = s.mesh.gateway(0);
            for _ in 0..10 {
                for secret in &revoked {
                    if let Ok(answer) = s
                        .http
                        .get(format!("{base}/v1/api-keys"))
                        .bearer_auth(secret)
                        .send()
                        .await
                    {
                        assert_ne!(answer.status(), 200, "a restarted gateway accepted a deleted key");
                    }
                }
                tokio::time::sleep(Duration::from_millis(300)).await;
            }
            s.nats.server().start().await;
        })
        .await;
    assert_eq!(suite.nats.violations(), Vec::<String>::new());
    let single = std::mem::take(&mut suite.findings);
    drop(suite);

    // The stream on a three-node cluster, its leader killed mid-burst.
    let cluster = crate::nats_users::mesh_nats_cluster().await;
    let mut clustered = Suite::start(Nats::Cluster(cluster), replicas, &[]).await;
    clustered
        .scenario("nats-cluster-loses-the-stream-leader", async |s| {
            let leader = s.stream_leader().await;
            s.nats.cluster().kill(leader);
            // The loss: the load runs 5 s on the two nodes left, which elect a new leader.
            tokio::time::sleep(Duration::from_secs(5)).await;
            s.nats.cluster().start(leader).await;
        })
        .await;
    assert_eq!(clustered.nats.violations(), Vec::<String>::new());
    println!("{}", summary(&[&single, &clustered.findings]));
}
