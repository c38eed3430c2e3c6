//! The agent surface's context, as an agent reads it: the summary first (at most ~500 bytes for an
//! account with five connections), one provider's details with commands that run as given, a 404
//! that names what exists, and the skill for this deployment. Another account's connections never
//! show. Both backends.

use latchkey_storage::Backend;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::support::{Bus, TestMesh};

async fn get(t: &TestMesh, path: &str, key: &str) -> (StatusCode, String) {
    let response = t.as_key(Method::GET, path, key).send().await.expect(path);
    (response.status(), response.text().await.expect("body"))
}

/// Five API-key providers of the deployment's catalogue, with a key stored for each.
async fn five_connections(t: &TestMesh) -> Vec<(String, String)> {
    let providers: Value = reqwest::get(t.url("/docs/providers"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let chosen: Vec<String> = providers["providers"]
        .as_array()
        .or_else(|| providers["data"].as_array())
        .or_else(|| providers.as_array())
        .expect("a provider list")
        .iter()
        .filter(|provider| provider["kind"] == "api_key" || provider["type"] == "api_key")
        .filter_map(|provider| provider["code"].as_str().or_else(|| provider["id"].as_str()))
        .take(5)
        .map(str::to_owned)
        .collect();
    assert_eq!(chosen.len(), 5, "{providers}");
    let keys: Vec<(String, String)> = chosen
        .into_iter()
        .enumerate()
        .map(|(n, code)| (code, format!("sk-test-key-{n}-0123456789abcdef")))
        .collect();
    let body: serde_json::Map<String, Value> = keys
        .iter()
        .map(|(code, key)| (format!("{code}ApiKey"), Value::from(key.as_str())))
        .collect();
    let stored = t
        .as_key(Method::PUT, "/credentials", &t.key)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(stored.status(), StatusCode::OK);
    keys
}

/// An agent of `key`'s account and two of its tokens: one for no service in particular (so for
/// Latchkey too), one for `billing` only.
async fn agent_tokens_of(t: &TestMesh, key: &str) -> (String, String) {
    let agent = t
        .created(key, "/v1/agents", json!({ "name": "reader", "owner": "eng" }))
        .await;
    let mut tokens = Vec::new();
    for body in [
        json!({ "agent_id": agent["id"], "scope": ["context.read"] }),
        json!({ "agent_id": agent["id"], "scope": ["context.read"], "target_service": "billing" }),
    ] {
        let issued = t.created(key, "/v1/tokens", body).await;
        tokens.push(issued["token"].as_str().expect("a token").to_owned());
    }
    (tokens.remove(0), tokens.remove(0))
}

async fn agent_tokens(t: &TestMesh) -> (String, String) {
    agent_tokens_of(t, &t.key).await
}

async fn an_agent_reads_its_context_small_first(backend: Backend, bus: Bus) {
    let t = TestMesh::start(backend, bus).await;
    let (status, empty) = get(&t, "/ai/context/summary", &t.key).await;
    assert_eq!(status, StatusCode::OK, "{empty}");
    assert_eq!(
        serde_json::from_str::<Value>(&empty).unwrap(),
        json!({ "connected": [] })
    );

    let keys = five_connections(&t).await;
    let (status, summary) = get(&t, "/ai/context/summary", &t.key).await;
    assert_eq!(status, StatusCode::OK);
    assert!(summary.len() <= 500, "{} bytes: {summary}", summary.len());
    let summary: Value = serde_json::from_str(&summary).unwrap();
    let connected = summary["connected"].as_array().unwrap();
    assert_eq!(connected.len(), 5, "{summary}");
    assert!(connected.iter().all(|provider| provider["status"] == "ok"), "{summary}");
    assert!(
        connected
            .iter()
            .all(|provider| provider["services"].as_array().is_some_and(|s| !s.is_empty()))
    );

    // Another account sees none of it.
    let (_, other_key) = t.mesh.create_account("Second account").await.unwrap();
    let (_, theirs) = get(&t, "/ai/context/summary", &other_key).await;
    assert_eq!(
        serde_json::from_str::<Value>(&theirs).unwrap(),
        json!({ "connected": [] })
    );
    let (_, theirs) = get(&t, &format!("/ai/context/{}", keys[0].0), &other_key).await;
    assert_eq!(
        serde_json::from_str::<Value>(&theirs).unwrap()["status"],
        "not_connected"
    );

    // One provider: its commands run as given, with the key only in the environment.
    let (code, stored) = &keys[0];
    let (status, context) = get(&t, &format!("/ai/context/{code}"), &t.key).await;
    assert_eq!(status, StatusCode::OK, "{context}");
    assert!(!context.contains(&t.key), "the answer never holds the caller's key");
    let context: Value = serde_json::from_str(&context).unwrap();
    assert_eq!(context["status"], "ok");
    assert_eq!(context["kind"], "api_key");
    let command = context["getToken"]["curl"].as_str().unwrap();
    assert!(command.starts_with("curl ") && command.contains(&t.base), "{command}");
    let ran = tokio::process::Command::new("bash")
        .arg("-c")
        .arg(command)
        .env("LATCHKEY_API_KEY", &t.key)
        .output()
        .await
        .expect("run getToken.curl");
    let fetched: Value = serde_json::from_slice(&ran.stdout).expect("getToken.curl answers JSON");
    assert_eq!(fetched["data"]["accessToken"], stored.as_str(), "{fetched}");
    assert!(context["connect"]["curl"].as_str().unwrap().contains("/credentials"));
    let service = context["services"][0]["code"].as_str().unwrap().to_owned();
    let (status, one) = get(&t, &format!("/ai/context/{code}/{service}"), &t.key).await;
    assert_eq!(status, StatusCode::OK, "{one}");
    let one: Value = serde_json::from_str(&one).unwrap();
    assert_eq!(one["services"].as_array().unwrap().len(), 1);
    assert_eq!(one["services"][0]["granted"], true);

    // An OAuth provider not connected: the connect command starts a session a person must open.
    let (_, google) = get(&t, "/ai/context/google/gmail", &t.key).await;
    let google: Value = serde_json::from_str(&google).unwrap();
    assert_eq!(google["status"], "not_connected", "{google}");
    let connect = google["connect"]["curl"].as_str().unwrap();
    assert!(
        connect.contains("/oauth/sessions") && connect.contains("gmail"),
        "{connect}"
    );

    // What does not exist is named with what does.
    let (status, unknown) = get(&t, "/ai/context/nope", &t.key).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(
        unknown.contains("google") && unknown.contains(code.as_str()),
        "{unknown}"
    );
    let (status, unknown) = get(&t, "/ai/context/google/nope", &t.key).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(unknown.contains("gmail"), "{unknown}");
    let (status, _) = get(&t, "/ai/context/summary", "lk_live_not-a-key").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    // An agent holding only its token reads the same context; a token for another service, or a
    // revoked one, reads nothing.
    let (agent_token, billing_token) = agent_tokens(&t).await;
    let (status, as_agent) = get(&t, "/ai/context/summary", &agent_token).await;
    assert_eq!(status, StatusCode::OK, "{as_agent}");
    assert_eq!(serde_json::from_str::<Value>(&as_agent).unwrap(), summary);
    let (status, _) = get(&t, "/ai/context/summary", &billing_token).await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "a token for another service is that service's"
    );
    let revoked = t
        .as_key(Method::POST, "/v1/tokens/revoke", &t.key)
        .json(&json!({ "token": agent_token }))
        .send()
        .await
        .unwrap();
    assert!(revoked.status().is_success(), "{}", revoked.status());
    let (status, _) = get(&t, "/ai/context/summary", &agent_token).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "a revoked token reads nothing");
    let (other_account_agent, _) = {
        let (_, other) = t.mesh.create_account("Third account").await.unwrap();
        agent_tokens_of(&t, &other).await
    };
    let (_, theirs) = get(&t, "/ai/context/summary", &other_account_agent).await;
    assert_eq!(
        serde_json::from_str::<Value>(&theirs).unwrap(),
        json!({ "connected": [] }),
        "{theirs}"
    );

    // The skill, for this deployment, without a key.
    let skill = reqwest::get(t.url("/ai/skill")).await.unwrap();
    assert_eq!(skill.status(), StatusCode::OK);
    assert!(
        skill.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/markdown"),
        "{:?}",
        skill.headers()
    );
    let skill = skill.text().await.unwrap();
    assert!(skill.contains(&format!("{}/ai/context/summary", t.base)), "{skill}");
    assert!(skill.contains(&format!("`{code}`")));
    t.stop().await;
}

#[tokio::test]
async fn an_agent_reads_its_context_small_first_sqlite() {
    an_agent_reads_its_context_small_first(Backend::Sqlite, Bus::Local).await;
}

#[tokio::test]
async fn an_agent_reads_its_context_small_first_postgres_nats() {
    an_agent_reads_its_context_small_first(Backend::Postgres, Bus::Nats).await;
}

/// A team's internal API as a provider of its own (`oauth.catalogue_file`), beside a built-in one
/// it renames: listed, documented, its key stored and fetched, and described to agents.
#[tokio::test]
async fn a_catalogue_file_adds_a_teams_own_provider() {
    let dir = tempfile_dir();
    let path = dir.join("providers.toml");
    std::fs::write(
        &path,
        r#"
[[provider]]
code = "internal-reports"
name = "Reports API"
kind = "api_key"
docs_url = "https://wiki.example/reports"
services = [{ code = "reports", name = "Reports", api_base_url = "https://reports.internal.example/v1" }]

[[provider]]
code = "openai"
name = "OpenAI through the team's proxy"
kind = "api_key"
docs_url = "https://proxy.example/openai"
services = [{ code = "models", name = "Models", api_base_url = "https://proxy.example/openai/v1" }]
"#,
    )
    .unwrap();
    let settings = latchkey::mesh::ServiceSettings {
        oauth: latchkey_oauth::OauthConfig {
            catalogue_file: path.to_string_lossy().into_owned(),
            ..latchkey_oauth::OauthConfig::default()
        },
        ..latchkey::mesh::ServiceSettings::default()
    };
    let t = TestMesh::start_with_settings(Backend::Sqlite, Bus::Local, settings).await;

    let listed = reqwest::get(t.url("/docs/providers"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        listed.contains("internal-reports") && listed.contains("OpenAI through the team's proxy"),
        "{listed}"
    );
    let document: Value = reqwest::get(t.url("/openapi.json"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let codes = &document["components"]["schemas"]["ProviderCode"]["enum"];
    assert!(
        codes.as_array().unwrap().contains(&json!("internal-reports")),
        "{codes}"
    );
    // `/credentials` documents the team's provider's key beside the built-in ones.
    let schemas = &document["components"]["schemas"];
    let update = schemas["CredentialUpdate"].to_string();
    assert!(
        update.contains("internal-reportsApiKey") && update.contains("openaiApiKey"),
        "{update}"
    );
    assert!(schemas["CredentialSummary"]["properties"]["hasInternal-reportsApiKey"].is_object());

    let stored = t
        .as_key(Method::PUT, "/credentials", &t.key)
        .json(&json!({ "internal-reportsApiKey": "rk-team-key-0123456789" }))
        .send()
        .await
        .unwrap();
    assert_eq!(stored.status(), StatusCode::OK, "{}", stored.text().await.unwrap());
    let fetched: Value = t
        .as_key(Method::POST, "/tokens/fetch", &t.key)
        .json(&json!({ "provider": "internal-reports" }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(fetched["data"]["accessToken"], "rk-team-key-0123456789", "{fetched}");
    let (status, context) = get(&t, "/ai/context/internal-reports/reports", &t.key).await;
    assert_eq!(status, StatusCode::OK, "{context}");
    let context: Value = serde_json::from_str(&context).unwrap();
    assert_eq!(context["status"], "ok");
    assert_eq!(
        context["services"][0]["apiBaseUrl"],
        "https://reports.internal.example/v1"
    );
    let (_, openai) = get(&t, "/ai/context/openai", &t.key).await;
    assert!(
        openai.contains("https://proxy.example/openai/v1"),
        "replaced by code: {openai}"
    );
    t.stop().await;
    std::fs::remove_dir_all(dir).unwrap();
}

fn tempfile_dir() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "latchkey-catalogue-it-{}-{}",
        std::process::id(),
        latchkey_ids::ConnectionId::new()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}
