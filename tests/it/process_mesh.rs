//! The mesh as an operator runs it at scale: every service as separate `latchkey serve` processes,
//! each with as many replicas as asked, on one PostgreSQL database and NATS, calling each other over
//! mutual TLS with certificates of their own (`latchkey mesh-certs`'s, made per mesh), and each
//! connecting to NATS as its service's own user (`crate::nats_users`: on `mesh_nats()` it may use
//! only its own subjects). Replicas reach each other through comma-separated mesh URLs. A process
//! can be killed (SIGKILL, as a crash) and started again; its log is kept beside the others, and
//! left on disk when a test fails.

use std::{
    collections::BTreeMap,
    path::PathBuf,
    process::{Command, Stdio},
    time::Duration,
};

use latchkey_test_support::{eventually, unique_prefix};
use tonic_health::pb::{HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient};

use crate::binary::{BINARY, Process};

/// The gRPC services, then the gateway.
pub(crate) const SERVICES: [&str; 8] = [
    "agent-token",
    "audit",
    "policy",
    "vault",
    "oauth",
    "webhook",
    "directory",
    "gateway",
];

/// The services with a gRPC server and a database of their own: every one but the gateway.
pub(crate) fn grpc_services() -> impl Iterator<Item = &'static str> {
    SERVICES.into_iter().filter(|service| *service != "gateway")
}

pub(crate) struct ProcessMesh {
    env: Vec<(String, String)>,
    ports: BTreeMap<(&'static str, usize), u16>,
    processes: BTreeMap<(&'static str, usize), Process>,
    logs: PathBuf,
    /// The mesh's CA, and a certificate with its key per service and for the operator.
    certs: PathBuf,
    replicas: BTreeMap<&'static str, usize>,
}

impl ProcessMesh {
    /// Starts `replicas_of(service)` processes of every service on `database_url` and `nats_url`,
    /// with `settings` (environment entries) on top of the mesh's own; waits until every gateway
    /// answers (agent-token serves; [`wait_ready`](Self::wait_ready) waits for every service).
    pub(crate) async fn start(
        database_url: &str,
        nats_url: &str,
        replicas_of: impl Fn(&str) -> usize,
        settings: &[(&str, &str)],
    ) -> Self {
        let replicas: BTreeMap<&'static str, usize> = SERVICES.iter().map(|s| (*s, replicas_of(s).max(1))).collect();
        // Every port bound at once before any is let go, so no two processes of the mesh get one.
        let held: Vec<std::net::TcpListener> = (0..replicas.values().sum::<usize>())
            .map(|_| std::net::TcpListener::bind("127.0.0.1:0").expect("a free port"))
            .collect();
        let free: Vec<u16> = held
            .iter()
            .map(|listener| listener.local_addr().expect("its port").port())
            .collect();
        drop(held);
        let mut free = free.into_iter();
        let mut ports = BTreeMap::new();
        for (service, count) in &replicas {
            for replica in 0..*count {
                ports.insert((*service, replica), free.next().expect("a port per process"));
            }
        }
        let mut env: Vec<(String, String)> = vec![
            ("LATCHKEY__DATABASE__URL".into(), database_url.to_owned()),
            (
                "LATCHKEY__DATABASE__MAX_CONNECTIONS".into(),
                crate::support::MESH_POOL_CONNECTIONS.to_string(),
            ),
            ("LATCHKEY__NATS__URL".into(), nats_url.to_owned()),
            ("LATCHKEY__TELEMETRY__LOG_FILTER".into(), "warn,latchkey=info".into()),
            ("LATCHKEY__SERVER__SHUTDOWN_DRAIN_SECS".into(), "0".into()),
            // Loopback receivers for the webhooks of the tests.
            ("LATCHKEY__WEBHOOK__ALLOW_LOOPBACK".into(), "true".into()),
            // The vault's root key (32 bytes of 0x07): only the vault reads it.
            (
                "LATCHKEY__VAULT__ROOT_KEYS".into(),
                "1:BwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwc=".into(),
            ),
        ];
        for service in grpc_services() {
            let urls: Vec<String> = (0..replicas[service])
                .map(|replica| format!("https://127.0.0.1:{}", ports[&(service, replica)]))
                .collect();
            let key = format!("LATCHKEY__MESH__{}_URL", service.replace('-', "_").to_uppercase());
            env.push((key, urls.join(",")));
        }
        // Links the mesh hands out (the OAuth callback) point at the first gateway.
        env.push((
            "LATCHKEY__SERVER__PUBLIC_URL".into(),
            format!("http://127.0.0.1:{}", ports[&("gateway", 0)]),
        ));
        env.extend(settings.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())));
        let logs = std::env::temp_dir().join(format!("latchkey-mesh-{}", unique_prefix()));
        std::fs::create_dir_all(&logs).expect("create the log directory");
        let certs = logs.join("certs");
        latchkey::mesh_certs::write(&certs, 1).expect("the mesh's certificates");
        env.push((
            "LATCHKEY__MESH__TLS_CA_FILE".into(),
            certs.join(latchkey::mesh_certs::CA_CERT).display().to_string(),
        ));
        let mut mesh = Self {
            env,
            ports,
            processes: BTreeMap::new(),
            logs,
            certs,
            replicas,
        };
        for service in SERVICES {
            for replica in 0..mesh.replicas_of(service) {
                mesh.spawn(service, replica);
            }
        }
        mesh.wait_answering().await;
        mesh
    }

    /// How many replicas of `service` the mesh runs.
    pub(crate) fn replicas_of(&self, service: &str) -> usize {
        self.replicas.get(service).copied().unwrap_or(0)
    }

    /// The base URL of gateway `replica`.
    pub(crate) fn gateway(&self, replica: usize) -> String {
        format!("http://127.0.0.1:{}", self.ports[&("gateway", replica)])
    }

    /// The certificate and key files of mesh identity `identity` (a service, or `operator`), as
    /// settings.
    pub(crate) fn tls_settings(&self, identity: &str) -> [(String, String); 2] {
        let files = latchkey::mesh_certs::files_of(&self.certs, identity);
        [
            ("LATCHKEY__MESH__TLS_CERT_FILE".into(), files.cert.display().to_string()),
            ("LATCHKEY__MESH__TLS_KEY_FILE".into(), files.key.display().to_string()),
        ]
    }

    /// The directory of the mesh's CA and certificates.
    pub(crate) fn certs(&self) -> &std::path::Path {
        &self.certs
    }

    /// The gRPC URL of `service`'s `replica`.
    pub(crate) fn grpc_url(&self, service: &str, replica: usize) -> String {
        let port = self
            .ports
            .iter()
            .find_map(|((s, r), port)| (*s == service && *r == replica).then_some(*port))
            .expect("a service of the mesh");
        format!("https://127.0.0.1:{port}")
    }

    /// The process id of `service`'s `replica`, while it runs.
    pub(crate) fn pid(&self, service: &str, replica: usize) -> Option<u32> {
        self.processes
            .iter()
            .find(|((s, r), _)| *s == service && *r == replica)
            .map(|(_, process)| process.0.id())
    }

    /// Starts `service`'s `replica` (again), appending to its log.
    pub(crate) fn spawn(&mut self, service: &'static str, replica: usize) {
        let port = self.ports[&(service, replica)];
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.logs.join(format!("{service}-{replica}.log")))
            .expect("open the process log");
        let child = Command::new(BINARY)
            .args(["serve", service, "--listen", &format!("127.0.0.1:{port}")])
            // Each service names itself in its traces, as docker-compose.yml and deploy/ do.
            .env("LATCHKEY__TELEMETRY__SERVICE_NAME", format!("latchkey-{service}"))
            // Its own NATS user, as deploy/ gives it (`crate::nats_users`): settings may override.
            .envs(crate::nats_users::process_settings(service))
            .envs(self.env.iter().cloned())
            .envs(self.tls_settings(service))
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("run latchkey serve");
        self.processes.insert((service, replica), Process(child));
    }

    /// Kills `service`'s `replica` with SIGKILL, as a crash would, and waits until it is gone.
    pub(crate) fn kill(&mut self, service: &str, replica: usize) {
        let key = *self
            .processes
            .keys()
            .find(|(s, r)| *s == service && *r == replica)
            .expect("a running process");
        // Dropping a `Process` kills it and reaps it.
        self.processes.remove(&key);
    }

    /// Stops `service`'s `replica` as an orchestrator does (SIGTERM) and waits until it has exited,
    /// having drained and flushed what it held (its traces).
    pub(crate) async fn terminate(&mut self, service: &str, replica: usize) {
        let key = *self
            .processes
            .keys()
            .find(|(s, r)| *s == service && *r == replica)
            .expect("a running process");
        let mut process = self.processes.remove(&key).expect("a running process");
        let sent = Command::new("kill")
            .args(["-TERM", &process.0.id().to_string()])
            .status()
            .expect("run kill");
        assert!(sent.success(), "SIGTERM to {service} {replica}");
        let exited = eventually(Duration::from_secs(30), || {
            let exited = matches!(process.0.try_wait(), Ok(Some(_)));
            async move { exited }
        })
        .await;
        assert!(
            exited,
            "{service} {replica} did not stop; logs in {}",
            self.logs.display()
        );
    }

    /// Waits until every gateway answers /readyz `ready`: every service serves.
    pub(crate) async fn wait_ready(&self) {
        self.wait_for_gateways(&["ready"]).await;
    }

    /// Waits until every gateway answers /readyz with 200: agent-token serves, others may not.
    pub(crate) async fn wait_answering(&self) {
        self.wait_for_gateways(&["ready", "degraded"]).await;
    }

    async fn wait_for_gateways(&self, statuses: &[&str]) {
        let http = reqwest::Client::new();
        for replica in 0..self.replicas_of("gateway") {
            let base = self.gateway(replica);
            let ready = eventually(Duration::from_secs(90), || async {
                let Ok(answer) = http.get(format!("{base}/readyz")).send().await else {
                    return false;
                };
                let body: serde_json::Value = answer.json().await.unwrap_or_default();
                statuses.iter().any(|status| body["status"] == *status)
            })
            .await;
            assert!(
                ready,
                "gateway {replica} never answered /readyz {statuses:?}; logs in {}",
                self.logs.display()
            );
        }
    }

    /// The operator's mesh credential: its certificate.
    pub(crate) fn operator(&self) -> latchkey_server::MeshAuth {
        let tls = latchkey_server::MeshTls::load(
            latchkey::mesh_certs::files_of(&self.certs, "operator"),
            "operator",
            Duration::from_secs(10),
        )
        .expect("the operator's certificate");
        latchkey_server::MeshAuth::new("").with_tls(tls)
    }

    /// What `service`'s `replica` answers the gRPC health check (`None`: it does not answer).
    pub(crate) async fn health(&self, service: &str, replica: usize) -> Option<ServingStatus> {
        let channel = latchkey_server::connect_to(service, &self.grpc_url(service, replica), &self.operator()).ok()?;
        let answer = tokio::time::timeout(
            Duration::from_secs(3),
            HealthClient::new(channel).check(HealthCheckRequest { service: String::new() }),
        )
        .await
        .ok()?
        .ok()?;
        ServingStatus::try_from(answer.into_inner().status).ok()
    }

    /// Creates an account with the admin command; answers its API key.
    pub(crate) fn create_account(&self, name: &str) -> String {
        self.admin(&["account", "create", name])
            .lines()
            .find_map(|l| l.strip_prefix("api key "))
            .expect("a key is printed")
            .to_owned()
    }

    /// Creates an account and moves it to `plan` with the admin commands; answers its API key.
    pub(crate) fn create_account_on_plan(&self, name: &str, plan: &str) -> String {
        let created = self.admin(&["account", "create", name]);
        let line = |prefix: &str| {
            created
                .lines()
                .find_map(|l| l.strip_prefix(prefix))
                .unwrap_or_else(|| panic!("no {prefix:?} in {created}"))
                .to_owned()
        };
        self.admin(&["account", "plan", &line("account "), plan]);
        line("api key ")
    }

    /// Runs an admin command of the binary with the mesh's settings; answers what it printed.
    pub(crate) fn admin(&self, args: &[&str]) -> String {
        let output = Command::new(BINARY)
            .args(args)
            .envs(self.env.iter().cloned())
            .envs(self.tls_settings("operator"))
            .output()
            .expect("run a latchkey admin command");
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
        String::from_utf8_lossy(&output.stdout).into_owned()
    }

    /// Where the processes' logs are.
    pub(crate) fn logs(&self) -> &std::path::Path {
        &self.logs
    }
}

impl Drop for ProcessMesh {
    fn drop(&mut self) {
        self.processes.clear();
        if std::thread::panicking() {
            eprintln!("the mesh's process logs are kept in {}", self.logs.display());
        } else {
            let _ = std::fs::remove_dir_all(&self.logs);
        }
    }
}
