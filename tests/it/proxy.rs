//! The credential proxy, as an agent uses it: a write-only key stored once, then used through
//! `/proxy/{provider}/{service}/…` against a provider the test runs itself (declared in the
//! deployment's catalogue file). The provider sees the credential; the caller, the audit log and
//! Latchkey's logs never do. Paths cannot climb out of the service's base URL, bodies are capped,
//! agents need `proxy.<provider>` and the account's policies, and another account's credential is
//! never used. Both backends.

pub(crate) mod upstream;

use latchkey_storage::Backend;
use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::support::{Bus, TestMesh, gateway_config};
use upstream::Upstream;

/// The write-only key of the test's provider: it must reach the provider and nowhere else.
pub(crate) const ACME_SECRET: &str = "acme-secret-7f3a9c2e51b84d06";
/// A readable key of the second provider, which takes it as HTTP Basic credentials.
const BASIC_SECRET: &str = "basic-user:basic-password-6e1d";

/// The deployment's catalogue file: two providers at the test's upstream.
pub(crate) fn catalogue_file(dir: &std::path::Path, upstream: &Upstream) -> std::path::PathBuf {
    let path = dir.join("providers.toml");
    let base = upstream.base();
    std::fs::write(
        &path,
        format!(
            r#"
[[provider]]
code = "acme"
name = "Acme"
kind = "api_key"
docs_url = "https://acme.example/docs"
proxy_auth = "header:x-acme-key"
services = [{{ code = "api", name = "Acme API", api_base_url = "{base}/v1" }}]

[[provider]]
code = "basicco"
name = "Basic Co"
kind = "api_key"
docs_url = "https://basic.example/docs"
proxy_auth = "basic"
services = [{{ code = "api", name = "Basic API", api_base_url = "{base}/basic/" }}]

[[provider]]
code = "metadata"
name = "A catalogue entry pointing inside the network"
kind = "api_key"
docs_url = "https://metadata.example/docs"
services = [{{ code = "api", name = "Instance metadata", api_base_url = "http://169.254.169.254/latest" }}]
"#
        ),
    )
    .unwrap();
    path
}

/// A mesh whose catalogue names the upstream, with a small proxy body limit.
pub(crate) async fn mesh_with_upstream(
    backend: Backend,
    bus: Bus,
    upstream: &Upstream,
    dir: &std::path::Path,
) -> TestMesh {
    let settings = latchkey::mesh::ServiceSettings {
        gateway: latchkey_gateway::GatewayConfig {
            proxy_body_limit_bytes: 4096,
            ..gateway_config()
        },
        oauth: latchkey_oauth::OauthConfig {
            catalogue_file: catalogue_file(dir, upstream).to_string_lossy().into_owned(),
            // An OAuth provider whose sessions can start (the MCP tests create one).
            clients: [(
                "github".to_owned(),
                latchkey_oauth::ClientCredentials {
                    client_id: "mcp-test-client".to_owned(),
                    client_secret: "mcp-test-secret".to_owned(),
                },
            )]
            .into(),
            ..latchkey_oauth::OauthConfig::default()
        },
        ..latchkey::mesh::ServiceSettings::default()
    };
    TestMesh::start_with_settings(backend, bus, settings).await
}

/// The test's provider, the catalogue file naming it (removed on drop), and a mesh whose first
/// account stored its keys for both providers.
pub(crate) async fn with_provider(backend: Backend, bus: Bus) -> (Upstream, tempfile::TempDir, TestMesh) {
    let upstream = Upstream::start().await;
    let dir = tempfile::tempdir().unwrap();
    let t = mesh_with_upstream(backend, bus, &upstream, dir.path()).await;
    store_keys(&t, &t.key).await;
    (upstream, dir, t)
}

/// Stores the acme key write-only (and the basic one readable) for `key`'s account.
pub(crate) async fn store_keys(t: &TestMesh, key: &str) {
    for body in [
        json!({ "acmeApiKey": ACME_SECRET, "writeOnly": true }),
        json!({ "basiccoApiKey": BASIC_SECRET, "metadataApiKey": "metadata-key-0123456789" }),
    ] {
        let stored = t
            .as_key(Method::PUT, "/credentials", key)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(stored.status(), StatusCode::OK, "{}", stored.text().await.unwrap());
    }
}

/// A GET with the path exactly as written (`curl --path-as-is`): HTTP clients resolve dot segments
/// before they send a request; an attacker's does not.
async fn raw_get(t: &TestMesh, path: &str, key: &str) -> (u16, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let authority = t.base.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(authority).await.unwrap();
    let request =
        format!("GET {path} HTTP/1.1\r\nHost: {authority}\r\nAuthorization: Bearer {key}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    let status = response
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or(0);
    (status, response)
}

async fn send(t: &TestMesh, method: Method, path: &str, key: &str) -> (StatusCode, reqwest::header::HeaderMap, String) {
    let response = t.as_key(method, path, key).send().await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    (status, headers, response.text().await.unwrap())
}

/// A new agent of the first account, and a token of it for Latchkey with `scope`.
pub(crate) async fn agent_token(t: &TestMesh, scope: &[&str]) -> (String, String) {
    let name = format!("proxy-user-{}", scope.join("-"));
    let agent = t
        .created(&t.key, "/v1/agents", json!({ "name": name, "owner": "eng" }))
        .await;
    let body = json!({ "agent_id": agent["id"], "scope": scope, "target_service": "latchkey" });
    let issued = t.created(&t.key, "/v1/tokens", body).await;
    (
        agent["id"].as_str().unwrap().to_owned(),
        issued["token"].as_str().expect("a token").to_owned(),
    )
}

async fn a_write_only_key_is_used_but_never_seen(backend: Backend, bus: Bus) {
    let (upstream, _catalogue, t) = with_provider(backend, bus).await;

    // Write-only: no door answers the key itself.
    let fetched = t
        .as_key(Method::POST, "/tokens/fetch", &t.key)
        .json(&json!({ "provider": "acme" }))
        .send()
        .await
        .unwrap();
    assert_eq!(fetched.status(), StatusCode::FORBIDDEN);

    // Through the proxy it works: the provider sees its own header and nothing of the caller's.
    let (status, headers, body) = send(&t, Method::GET, "/proxy/acme/api/items/42?q=a%20b&n=1", &t.key).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let seen = upstream.last();
    assert_eq!(seen.path, "/v1/items/42");
    assert_eq!(seen.query.as_deref(), Some("q=a%20b&n=1"));
    assert_eq!(seen.header("x-acme-key").as_deref(), Some(ACME_SECRET));
    assert_eq!(
        seen.header("authorization"),
        None,
        "the caller's key never reaches the provider"
    );
    assert_eq!(headers["latchkey-proxied"], "true");
    assert!(
        headers.get("set-cookie").is_none() && headers.get("x-api-key").is_none(),
        "{headers:?}"
    );
    assert_eq!(
        headers["x-provider"], "acme-upstream",
        "the provider's own headers come back"
    );
    assert!(!body.contains(ACME_SECRET), "{body}");

    // A body goes through, and a provider that echoes the request gets its echo masked.
    let posted = t
        .as_key(Method::POST, "/proxy/acme/api/echo", &t.key)
        .json(&json!({ "message": "hello" }))
        .send()
        .await
        .unwrap();
    assert_eq!(posted.status(), StatusCode::OK);
    let echoed = posted.text().await.unwrap();
    assert_eq!(upstream.last().body, r#"{"message":"hello"}"#);
    assert!(echoed.contains("x-acme-key: [REDACTED]"), "{echoed}");
    assert!(!echoed.contains(ACME_SECRET), "{echoed}");

    // Basic credentials, as the catalogue declares for the second provider.
    let (status, _, _) = send(&t, Method::DELETE, "/proxy/basicco/api/things/7", &t.key).await;
    assert_eq!(status, StatusCode::OK);
    let seen = upstream.last();
    assert_eq!(seen.method, "DELETE");
    assert_eq!(seen.path, "/basic/things/7");
    assert_eq!(
        seen.header("authorization").as_deref(),
        Some("Basic YmFzaWMtdXNlcjpiYXNpYy1wYXNzd29yZC02ZTFk")
    );

    // The provider's status is the answer's, whatever it is.
    let (status, headers, _) = send(&t, Method::GET, "/proxy/acme/api/missing", &t.key).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(headers["latchkey-proxied"], "true");

    // Nothing leaves the base path, in any spelling; unknown providers and services are 404.
    let before = upstream.count();
    for path in [
        "/proxy/acme/api/../../admin",
        "/proxy/acme/api/%2e%2e/%2e%2e/admin",
        "/proxy/acme/api/a/.%2E/b",
        "/proxy/acme/api/a/./b",
        "/proxy/acme/api/a%5c..%5cadmin",
        "/proxy/acme/api/a\\..\\admin",
    ] {
        let (status, response) = raw_get(&t, path, &t.key).await;
        assert_eq!(status, 400, "{path}: {response}");
        assert!(
            !response.to_ascii_lowercase().contains("latchkey-proxied"),
            "{response}"
        );
    }
    for path in ["/proxy/nope/api/x", "/proxy/acme/nope/x"] {
        let (status, _, body) = send(&t, Method::GET, path, &t.key).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}: {body}");
    }
    assert_eq!(upstream.count(), before, "no refused request reached the provider");
    // The egress guard: even a catalogue entry cannot point the proxy inside the network.
    let (status, _, body) = send(&t, Method::GET, "/proxy/metadata/api/meta-data", &t.key).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert!(body.contains("private, link-local or metadata address"), "{body}");
    for method in [Method::TRACE, Method::OPTIONS, Method::HEAD] {
        let (status, headers, _) = send(&t, method.clone(), "/proxy/acme/api/items/1", &t.key).await;
        assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED, "{method}");
        assert_eq!(headers["allow"], "GET, POST, PUT, PATCH, DELETE");
    }

    // Bodies are capped both ways (4096 bytes here).
    let big = t
        .as_key(Method::POST, "/proxy/acme/api/echo", &t.key)
        .body(vec![b'x'; 5000])
        .send()
        .await
        .unwrap();
    assert_eq!(big.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let (status, _, body) = send(&t, Method::GET, "/proxy/acme/api/big", &t.key).await;
    assert_eq!(status, StatusCode::BAD_GATEWAY, "{body}");

    // No credential, no call; another account has no key stored, and never uses this one's.
    let anonymous = t.http.get(t.url("/proxy/acme/api/items/1")).send().await.unwrap();
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
    let (_, other_key) = t.mesh.create_account("Other account").await.unwrap();
    let (status, _, body) = send(&t, Method::GET, "/proxy/acme/api/items/1", &other_key).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert!(body.contains("INTEGRATION_NOT_FOUND"), "{body}");

    // Each call is audited as credential.used, with a path template and never the key.
    let entries = t.audit_entries_at_least(&t.key, 1).await;
    let uses = t.audit_entries_of(&t.key, "credential.used", 5).await;
    let first = uses
        .iter()
        .find(|entry| entry["data"]["path_template"] == "items/{id}")
        .unwrap_or_else(|| panic!("{uses:?}"));
    assert_eq!(first["data"]["provider"], "acme");
    assert_eq!(first["data"]["service"], "api");
    assert_eq!(first["data"]["method"], "GET");
    assert_eq!(first["data"]["status"], 200);
    let everything = serde_json::to_string(&entries).unwrap() + &serde_json::to_string(&uses).unwrap();
    assert!(!everything.contains(ACME_SECRET) && !everything.contains("basic-password"));
    t.stop().await;
}

#[tokio::test]
async fn a_write_only_key_is_used_but_never_seen_sqlite() {
    a_write_only_key_is_used_but_never_seen(Backend::Sqlite, Bus::Local).await;
}

#[tokio::test]
async fn a_write_only_key_is_used_but_never_seen_postgres_nats() {
    a_write_only_key_is_used_but_never_seen(Backend::Postgres, Bus::Nats).await;
}

/// An agent calls through the proxy with its token when it holds `proxy.<provider>`, and the
/// account's policies decide each call, as they decide a token request.
async fn an_agent_needs_the_proxy_scope_and_the_policies(backend: Backend, bus: Bus) {
    let (upstream, _catalogue, t) = with_provider(backend, bus).await;

    let (agent_id, token) = agent_token(&t, &["proxy.acme"]).await;
    let (status, _, body) = send(&t, Method::GET, "/proxy/acme/api/items/1", &token).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(upstream.last().header("x-acme-key").as_deref(), Some(ACME_SECRET));
    let (status, _, body) = send(&t, Method::GET, "/proxy/basicco/api/x", &token).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "another provider's scope: {body}");
    let (_, narrow) = agent_token(&t, &["context.read"]).await;
    let (status, _, _) = send(&t, Method::GET, "/proxy/acme/api/items/1", &narrow).await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    // The use and the call are audited with the agent and the decision.
    let uses = t.audit_entries_of(&t.key, "credential.used", 1).await;
    assert_eq!(uses[0]["data"]["agent_id"], agent_id.as_str());
    let decision = uses[0]["decision_id"]
        .as_str()
        .or_else(|| uses[0]["decisionid"].as_str());
    assert!(decision.is_some_and(|d| d.starts_with("dec_")), "{:?}", uses[0]);
    let used = t
        .audit_entries(&t.key)
        .await
        .into_iter()
        .find(|entry| entry["type"] == "token.used" || entry["event_type"] == "token.used")
        .expect("a token.used entry");
    assert_eq!(used["data"]["scope"], "proxy.acme");

    // A policy that denies the use refuses the call before it reaches the provider.
    let policy = t
        .as_key(Method::POST, "/v1/policies", &t.key)
        .json(&json!({"name": "no acme", "rules": [{"match": {"scopes": ["proxy.acme"]}, "effect": "deny"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(policy.status(), StatusCode::CREATED);
    let before = upstream.count();
    let (status, _, body) = send(&t, Method::GET, "/proxy/acme/api/items/1", &token).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert!(body.contains("denied by policy"), "{body}");
    assert_eq!(upstream.count(), before);
    // The account's own key is not an agent: policies judge agents.
    let (status, _, _) = send(&t, Method::GET, "/proxy/acme/api/items/1", &t.key).await;
    assert_eq!(status, StatusCode::OK);
    t.stop().await;
}

#[tokio::test]
async fn an_agent_needs_the_proxy_scope_and_the_policies_sqlite() {
    an_agent_needs_the_proxy_scope_and_the_policies(Backend::Sqlite, Bus::Local).await;
}

#[tokio::test]
async fn an_agent_needs_the_proxy_scope_and_the_policies_postgres_nats() {
    an_agent_needs_the_proxy_scope_and_the_policies(Backend::Postgres, Bus::Nats).await;
}

/// The real binary's logs, at debug level, through a proxied call of a write-only key: the key
/// appears nowhere in them.
#[tokio::test]
async fn the_key_never_reaches_the_logs() {
    let upstream = Upstream::start().await;
    let dir = tempfile::tempdir().unwrap();
    let catalogue = catalogue_file(dir.path(), &upstream);
    let log_path = dir.path().join("latchkey.log");
    let port = crate::binary::free_port();
    let base = format!("http://127.0.0.1:{port}");
    let _dev = crate::binary::Process(
        std::process::Command::new(crate::binary::BINARY)
            .args(["dev", "--data-dir"])
            .arg(dir.path().join("data"))
            .args(["--listen", &format!("127.0.0.1:{port}")])
            .env("LATCHKEY__TELEMETRY__LOG_FILTER", "debug")
            .env("LATCHKEY__OAUTH__CATALOGUE_FILE", &catalogue)
            .stdout(std::process::Stdio::null())
            .stderr(std::fs::File::create(&log_path).unwrap())
            .spawn()
            .expect("run latchkey dev"),
    );
    let http = reqwest::Client::new();
    assert!(
        crate::binary::ready(&http, &base).await,
        "latchkey dev never became ready"
    );
    let key = std::fs::read_to_string(dir.path().join("data/bootstrap.key"))
        .unwrap()
        .trim()
        .to_owned();
    for body in [
        json!({ "acmeApiKey": ACME_SECRET, "writeOnly": true }),
        json!({ "basiccoApiKey": BASIC_SECRET }),
    ] {
        let stored = http
            .put(format!("{base}/credentials"))
            .bearer_auth(&key)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(stored.status(), StatusCode::OK);
    }
    for path in [
        "/proxy/acme/api/items/9",
        "/proxy/acme/api/echo",
        "/proxy/acme/api/missing",
    ] {
        let response = http
            .get(format!("{base}{path}"))
            .bearer_auth(&key)
            .send()
            .await
            .unwrap();
        assert!(!response.text().await.unwrap().contains(ACME_SECRET));
    }
    assert_eq!(upstream.last().header("x-acme-key").as_deref(), Some(ACME_SECRET));
    // Through MCP too: a tool's result holds the readable key, and the SDK logs messages at debug.
    let report = crate::mcp::python_client(json!({
        "transport": "http",
        "url": format!("{base}/mcp"),
        "bearer": key,
        "steps": [
            { "call": { "name": "fetch_token", "arguments": { "provider": "basicco" } } },
            { "call": { "name": "call_provider", "arguments": { "provider": "acme", "service": "api", "path": "echo" } } },
        ],
    }))
    .await;
    assert!(
        report.to_string().contains(BASIC_SECRET),
        "the tool answered the key: {report}"
    );
    let logs = std::fs::read_to_string(&log_path).unwrap();
    assert!(logs.contains("proxy"), "debug logs were written: {} bytes", logs.len());
    assert!(!logs.contains(ACME_SECRET), "the write-only key is in the logs");
    let leaked: Vec<&str> = logs.lines().filter(|line| line.contains(BASIC_SECRET)).collect();
    assert!(leaked.is_empty(), "a fetched key is in the logs: {leaked:?}");
}
