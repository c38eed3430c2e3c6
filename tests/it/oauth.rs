//! OAuth connections end to end, against a real OpenID Connect provider (npm `oidc-provider`,
//! see `latchkey_test_support::oidc_peer`) registered as Latchkey's generic `oidc` provider: an end user authorizes,
//! the callback stores the connection, `/tokens/fetch` hands out (and refreshes) the token, and a
//! disconnect revokes it at the provider. Also the ways a flow goes wrong, the refresh race across
//! two oauth instances, tenant isolation and secrets kept out of the logs. AGNT's flow
//! (`/auth/{provider}` + `/auth/exchange`) is in oauth/agnt_flow.rs, connect links (that flow
//! started from a browser without a key) in oauth/connect_links.rs, accounts' own OAuth apps in
//! oauth/own_apps.rs, Telegram sessions in oauth/telegram.rs; they use the helpers here.

mod agnt_flow;
mod connect_links;
mod own_apps;
mod telegram;

use std::sync::Arc;

use latchkey::{cli::Service, mesh::spawn_service};
use latchkey_oauth::{ClientCredentials, OauthConfig};
use latchkey_storage::Backend;
use latchkey_test_support::captured;
use reqwest::Method;
use serde_json::{Value, json};

use crate::support::{Bus, TestMesh, gateway_config};
use latchkey_test_support::oidc_peer::{CLIENT_ID, CLIENT_SECRET, OidcPeer};

const APP_CALLBACK: &str = "https://app.example/oauth/done";

pub(crate) fn oauth_config(peer: &OidcPeer) -> OauthConfig {
    OauthConfig {
        callback_url: String::new(),
        oidc_discovery_url: peer.discovery_url(),
        clients: [(
            "oidc".to_owned(),
            ClientCredentials {
                client_id: CLIENT_ID.to_owned(),
                client_secret: CLIENT_SECRET.to_owned(),
            },
        )]
        .into(),
        ..OauthConfig::default()
    }
}

/// A provider, and a mesh that knows it as `oidc`, with the app's callback allowed.
async fn start(backend: Backend, bus: Bus) -> (OidcPeer, TestMesh) {
    start_configured(backend, bus, |_| {}).await
}

async fn start_configured(backend: Backend, bus: Bus, adjust: impl FnOnce(&mut OauthConfig)) -> (OidcPeer, TestMesh) {
    let peer = OidcPeer::start().await;
    let mut config = oauth_config(&peer);
    adjust(&mut config);
    let mesh = TestMesh::start_with_oauth(backend, bus, gateway_config(), config).await;
    peer.register_client(&[&mesh.url("/oauth/callback"), APP_CALLBACK])
        .await;
    let allowed = mesh
        .as_key(Method::PUT, "/oauth/redirect-uris", &mesh.key)
        .json(&json!({ "redirectUris": [APP_CALLBACK] }))
        .send()
        .await
        .expect("PUT /oauth/redirect-uris");
    assert_eq!(allowed.status(), 200);
    (peer, mesh)
}

async fn create_session(mesh: &TestMesh, key: &str, body: Value) -> reqwest::Response {
    mesh.as_key(Method::POST, "/oauth/sessions", key)
        .json(&body)
        .send()
        .await
        .expect("POST /oauth/sessions")
}

/// The gateway's answer to the browser arriving at `callback_url` (redirects not followed).
async fn arrive(callback_url: &str) -> reqwest::Response {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
        .get(callback_url)
        .send()
        .await
        .expect("GET callback")
}

fn query_of(location: &str) -> std::collections::HashMap<String, String> {
    let url = reqwest::Url::parse(location).expect("location is a URL");
    url.query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

/// The whole dance for `user`: session, authorization at the provider, callback. Answers the
/// query the app's callback receives.
async fn connect(peer: &OidcPeer, mesh: &TestMesh, key: &str, user: &str) -> std::collections::HashMap<String, String> {
    let session = create_session(mesh, key, json!({ "provider": "oidc", "redirectUri": APP_CALLBACK })).await;
    assert_eq!(session.status(), 201);
    let session: Value = session.json().await.expect("json");
    let url = session["data"]["url"].as_str().expect("url");
    let back = peer.authorize(url, user, true).await;
    assert!(back.starts_with(&mesh.url("/oauth/callback")), "{back}");
    let answer = arrive(&back).await;
    assert_eq!(answer.status(), 303);
    let location = answer.headers()["location"].to_str().expect("location");
    assert!(location.starts_with(APP_CALLBACK), "{location}");
    query_of(location)
}

async fn fetch(mesh: &TestMesh, key: &str, provider: &str) -> reqwest::Response {
    mesh.as_key(Method::POST, "/tokens/fetch", key)
        .json(&json!({ "provider": provider }))
        .send()
        .await
        .expect("POST /tokens/fetch")
}

async fn fetch_ok(mesh: &TestMesh, key: &str) -> Value {
    let response = fetch(mesh, key, "oidc").await;
    let status = response.status();
    let body: Value = response.json().await.expect("json");
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "success");
    body["data"].clone()
}

async fn problem_code(response: reqwest::Response) -> (u16, String) {
    let status = response.status().as_u16();
    let body: Value = response.json().await.expect("json");
    (status, body["code"].as_str().unwrap_or_default().to_owned())
}

async fn a_connection_lives_from_authorization_to_disconnect(backend: Backend, bus: Bus) {
    let (peer, mesh) = start(backend, bus).await;
    // The first token is already within the refresh margin (60 s); the refreshed one lasts an hour.
    peer.set_access_token_ttl(30).await;
    let outcome = connect(&peer, &mesh, &mesh.key, "alice").await;
    assert_eq!(outcome["status"], "connected", "{outcome:?}");
    assert_eq!(outcome["provider"], "oidc");
    assert!(outcome["connection_id"].starts_with("conn_"));
    // An agent reading its context sees the connection and the scopes it holds.
    let summary: Value = mesh
        .as_key(Method::GET, "/ai/context/summary", &mesh.key)
        .send()
        .await
        .expect("summary")
        .json()
        .await
        .expect("json");
    assert_eq!(summary["connected"][0]["provider"], "oidc", "{summary}");
    assert_eq!(summary["connected"][0]["status"], "ok", "{summary}");
    let context: Value = mesh
        .as_key(Method::GET, "/ai/context/oidc", &mesh.key)
        .send()
        .await
        .expect("context")
        .json()
        .await
        .expect("json");
    assert!(
        context["scopes"]["granted"]
            .as_array()
            .is_some_and(|granted| !granted.is_empty()),
        "{context}"
    );
    peer.set_access_token_ttl(3600).await;
    assert_eq!(peer.refreshes().await, 0);

    let first = fetch_ok(&mesh, &mesh.key).await;
    assert_eq!(
        peer.refreshes().await,
        1,
        "a token close to expiry is refreshed before it is handed out"
    );
    assert_eq!(first["providerEmail"], "alice@example.test");
    assert_eq!(first["type"], "oauth2");
    let scopes: Vec<&str> = first["scope"]
        .as_array()
        .expect("scope")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(scopes.contains(&"openid") && scopes.contains(&"email"), "{scopes:?}");
    let expires = chrono::DateTime::parse_from_rfc3339(first["expiresAt"].as_str().expect("expiresAt")).expect("time");
    assert!(
        expires > chrono::Utc::now() + chrono::Duration::minutes(50),
        "{expires}"
    );

    let again = fetch_ok(&mesh, &mesh.key).await;
    assert_eq!(
        again["accessToken"], first["accessToken"],
        "a valid token is served as stored"
    );
    assert_eq!(peer.refreshes().await, 1);

    let listed = mesh
        .as_key(Method::GET, "/oauth-tokens?identifierId=&resource=oidc", &mesh.key)
        .send()
        .await
        .expect("GET /oauth-tokens");
    assert_eq!(listed.status(), 400, "identifierId is required");

    let disconnected = mesh
        .as_key(Method::DELETE, "/oauth/connections/oidc", &mesh.key)
        .send()
        .await
        .expect("DELETE /oauth/connections/oidc");
    assert_eq!(disconnected.status(), 200);
    let disconnected: Value = disconnected.json().await.expect("json");
    assert_eq!(disconnected["data"]["revokedAtProvider"], true);
    assert_eq!(peer.stats().await["revocations"], 1);

    assert_eq!(
        problem_code(fetch(&mesh, &mesh.key, "oidc").await).await,
        (404, "INTEGRATION_NOT_FOUND".to_owned())
    );
    mesh.stop().await;
}

#[tokio::test]
async fn a_connection_lives_from_authorization_to_disconnect_on_sqlite() {
    a_connection_lives_from_authorization_to_disconnect(Backend::Sqlite, Bus::Local).await;
}

#[tokio::test]
async fn a_connection_lives_from_authorization_to_disconnect_on_postgres_and_nats() {
    a_connection_lives_from_authorization_to_disconnect(Backend::Postgres, Bus::Nats).await;
}

#[tokio::test]
async fn the_connection_events_reach_the_audit_log() {
    let (peer, mesh) = start(Backend::Sqlite, Bus::Local).await;
    peer.set_access_token_ttl(30).await;
    connect(&peer, &mesh, &mesh.key, "alice").await;
    peer.set_access_token_ttl(3600).await;
    fetch_ok(&mesh, &mesh.key).await;
    let gone = mesh
        .as_key(Method::DELETE, "/oauth/connections/oidc", &mesh.key)
        .send()
        .await
        .expect("disconnect");
    assert_eq!(gone.status(), 200);
    let wanted = ["connection.created", "connection.refreshed", "connection.revoked"];
    let found = latchkey_test_support::eventually(std::time::Duration::from_secs(30), || async {
        let types: Vec<String> = mesh
            .audit_entries(&mesh.key)
            .await
            .iter()
            .filter_map(|entry| entry["type"].as_str().map(str::to_owned))
            .collect();
        wanted.iter().all(|wanted| types.iter().any(|t| t == wanted))
    })
    .await;
    assert!(found, "connection events in the audit log");
    mesh.stop().await;
}

#[tokio::test]
async fn an_expired_session_comes_back_as_session_expired() {
    let (peer, mesh) = start_configured(Backend::Sqlite, Bus::Local, |config| config.session_ttl_secs = 0).await;
    let session = create_session(&mesh, &mesh.key, json!({ "provider": "oidc" })).await;
    assert_eq!(session.status(), 201);
    let session: Value = session.json().await.expect("json");
    let back = peer
        .authorize(session["data"]["url"].as_str().expect("url"), "alice", true)
        .await;
    let answer = arrive(&back).await;
    assert_eq!(answer.status(), 400);
    let body: Value = answer.json().await.expect("json");
    assert_eq!(body["code"], "SESSION_EXPIRED", "{body}");
    assert_eq!(
        peer.stats().await["codeExchanges"],
        0,
        "an expired session's code is never exchanged"
    );
    assert_eq!(
        problem_code(fetch(&mesh, &mesh.key, "oidc").await).await,
        (404, "INTEGRATION_NOT_FOUND".to_owned())
    );
    mesh.stop().await;
}

#[tokio::test]
async fn a_replayed_callback_is_refused() {
    let (peer, mesh) = start(Backend::Sqlite, Bus::Local).await;
    let session = create_session(
        &mesh,
        &mesh.key,
        json!({ "provider": "oidc", "redirectUri": APP_CALLBACK }),
    )
    .await;
    let session: Value = session.json().await.expect("json");
    let back = peer
        .authorize(session["data"]["url"].as_str().expect("url"), "alice", true)
        .await;
    assert_eq!(arrive(&back).await.status(), 303);
    let replay = arrive(&back).await;
    assert_eq!(replay.status(), 400, "the state is single-use");
    let body: Value = replay.json().await.expect("json");
    assert_eq!(body["code"], "VALIDATION_ERROR");
    assert!(
        body["errors"][0]["message"]
            .as_str()
            .is_some_and(|m| m.starts_with("invalid_state")),
        "{body}"
    );
    assert_eq!(peer.stats().await["codeExchanges"], 1);

    let forged = arrive(&mesh.url("/oauth/callback?state=made-up&code=whatever")).await;
    assert_eq!(forged.status(), 400);
    mesh.stop().await;
}

#[tokio::test]
async fn a_redirect_uri_must_match_exactly() {
    let (_peer, mesh) = start(Backend::Sqlite, Bus::Local).await;
    for wrong in [
        "https://evil.example/oauth/done",
        "https://app.example/oauth/done/",
        "https://app.example/oauth/done?next=https://evil.example",
        "https://app.example/oauth/donE",
    ] {
        let response = create_session(&mesh, &mesh.key, json!({ "provider": "oidc", "redirectUri": wrong })).await;
        let status = response.status();
        let body: Value = response.json().await.expect("json");
        assert_eq!(status, 400, "{wrong}");
        assert_eq!(body["code"], "VALIDATION_ERROR");
        assert_eq!(body["errors"][0]["field"], "redirectUri", "{body}");
    }
    let unknown = create_session(&mesh, &mesh.key, json!({ "provider": "nope" })).await;
    let body: Value = unknown.json().await.expect("json");
    assert_eq!(body["errors"][0]["field"], "provider");
    let api_key = create_session(&mesh, &mesh.key, json!({ "provider": "openai" })).await;
    assert_eq!(api_key.status(), 400, "API-key providers have no OAuth flow");
    mesh.stop().await;
}

#[tokio::test]
async fn a_user_who_refuses_comes_back_with_access_denied() {
    let (peer, mesh) = start(Backend::Sqlite, Bus::Local).await;
    let session = create_session(
        &mesh,
        &mesh.key,
        json!({ "provider": "oidc", "redirectUri": APP_CALLBACK }),
    )
    .await;
    let session: Value = session.json().await.expect("json");
    let back = peer
        .authorize(session["data"]["url"].as_str().expect("url"), "alice", false)
        .await;
    let answer = arrive(&back).await;
    assert_eq!(answer.status(), 303, "a provider error is an outcome, never a 500");
    let outcome = query_of(answer.headers()["location"].to_str().expect("location"));
    assert_eq!(outcome["status"], "error");
    assert_eq!(outcome["error"], "access_denied");
    assert_eq!(
        problem_code(fetch(&mesh, &mesh.key, "oidc").await).await,
        (404, "INTEGRATION_NOT_FOUND".to_owned())
    );
    mesh.stop().await;
}

#[tokio::test]
async fn a_refresh_the_provider_refuses_asks_for_reauthorization() {
    let (peer, mesh) = start(Backend::Sqlite, Bus::Local).await;
    peer.set_access_token_ttl(30).await;
    connect(&peer, &mesh, &mesh.key, "alice").await;
    peer.revoke_all_grants().await;
    assert_eq!(
        problem_code(fetch(&mesh, &mesh.key, "oidc").await).await,
        (400, "TOKEN_EXPIRED".to_owned())
    );
    assert_eq!(
        problem_code(fetch(&mesh, &mesh.key, "oidc").await).await,
        (400, "TOKEN_EXPIRED".to_owned())
    );
    assert_eq!(peer.refreshes().await, 1, "a refused grant is not tried again");
    let listed = mesh
        .as_key(Method::GET, "/oauth-tokens?identifierId=&resource=oidc", &mesh.key)
        .send()
        .await
        .expect("list");
    assert_eq!(listed.status(), 400);

    // Authorizing again repairs the connection.
    peer.set_access_token_ttl(3600).await;
    let outcome = connect(&peer, &mesh, &mesh.key, "alice").await;
    assert_eq!(outcome["status"], "connected");
    fetch_ok(&mesh, &mesh.key).await;
    mesh.stop().await;
}

/// 50 fetches of one expired connection at once, half through a second gateway and oauth instance
/// on the same database: the provider sees one refresh, and everyone gets its token.
async fn concurrent_fetches_refresh_once(backend: Backend, bus: Bus) {
    let (peer, mesh) = start(backend, bus).await;
    peer.set_access_token_ttl(30).await;
    connect(&peer, &mesh, &mesh.key, "alice").await;
    peer.set_access_token_ttl(3600).await;

    let mut context = mesh.mesh.context.clone();
    let oauth_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let oauth_url = format!("http://{}", oauth_listener.local_addr().expect("addr"));
    spawn_service(Service::Oauth, oauth_listener, &context, mesh.mesh.shutdown.clone())
        .await
        .expect("second oauth instance");
    context.urls.0.insert(Service::Oauth.name(), oauth_url);
    let gateway_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let second_base = format!("http://{}", gateway_listener.local_addr().expect("addr"));
    spawn_service(Service::Gateway, gateway_listener, &context, mesh.mesh.shutdown.clone())
        .await
        .expect("second gateway");
    assert!(
        latchkey_test_support::eventually(std::time::Duration::from_secs(20), || {
            let http = mesh.http.clone();
            let url = format!("{second_base}/readyz");
            async move { http.get(url).send().await.is_ok_and(|r| r.status() == 200) }
        })
        .await
    );

    let mut tokens = fifty_fetches(&mesh.http, &mesh.key, [mesh.base.clone(), second_base]).await;
    tokens.dedup();
    assert_eq!(tokens.len(), 1, "every fetch got the one refreshed token");
    assert_eq!(peer.refreshes().await, 1, "exactly one refresh at the provider");
    assert_eq!(peer.stats().await["refreshFailures"], 0);
    mesh.stop().await;
}

/// A fetch that goes away while its refresh waits on a slow provider does not leave the lease
/// held until it runs out: the refresh finishes without it, and the next fetch gets its token as
/// soon as the provider answers.
#[tokio::test]
async fn a_refresh_outlives_the_fetch_that_started_it_and_frees_its_lease() {
    let (peer, mesh) = start_configured(Backend::Postgres, Bus::Nats, |config| config.refresh_lease_secs = 30).await;
    peer.set_access_token_ttl(30).await;
    connect(&peer, &mesh, &mesh.key, "alice").await;
    peer.set_access_token_ttl(3600).await;
    peer.set_token_delay(3000).await;

    // The first fetch gives up after half a second, while the provider still takes its time.
    let impatient = reqwest::Client::builder()
        .timeout(std::time::Duration::from_millis(500))
        .build()
        .unwrap();
    let gave_up = impatient
        .post(mesh.url("/tokens/fetch"))
        .bearer_auth(&mesh.key)
        .json(&json!({ "provider": "oidc" }))
        .send()
        .await;
    assert!(gave_up.is_err(), "the slow refresh answered within half a second");

    let started = std::time::Instant::now();
    let token = fetch_ok(&mesh, &mesh.key).await;
    let waited = started.elapsed();
    assert!(token["accessToken"].is_string());
    assert!(
        waited < std::time::Duration::from_secs(15),
        "the next fetch waited {waited:?}: the lease (30 s) outlived the fetch that took it"
    );
    assert_eq!(
        peer.refreshes().await,
        1,
        "the refresh the first fetch started is the one"
    );
    peer.set_token_delay(0).await;
    mesh.stop().await;
}

/// The same race between two oauth processes (`latchkey serve oauth` twice, and two gateways):
/// the connection's refresh lease is in the database, so one refresh happens at the provider.
#[tokio::test]
async fn fifty_concurrent_fetches_through_two_oauth_processes_refresh_once() {
    let peer = OidcPeer::start().await;
    let database = latchkey_test_support::TestDatabase::postgres().await;
    let nats = crate::nats_users::mesh_nats().await;
    let discovery = peer.discovery_url();
    let mesh = crate::process_mesh::ProcessMesh::start(
        database.url(),
        &nats.url(),
        |service| if matches!(service, "oauth" | "gateway") { 2 } else { 1 },
        &[
            ("LATCHKEY__OAUTH__OIDC_DISCOVERY_URL", discovery.as_str()),
            ("LATCHKEY__OAUTH__CLIENTS__OIDC__CLIENT_ID", CLIENT_ID),
            ("LATCHKEY__OAUTH__CLIENTS__OIDC__CLIENT_SECRET", CLIENT_SECRET),
        ],
    )
    .await;
    mesh.wait_ready().await;
    let key = mesh.create_account("Refreshing");
    let http = reqwest::Client::new();
    let base = mesh.gateway(0);
    peer.register_client(&[&format!("{base}/oauth/callback"), APP_CALLBACK])
        .await;
    let allowed = http
        .put(format!("{base}/oauth/redirect-uris"))
        .bearer_auth(&key)
        .json(&json!({ "redirectUris": [APP_CALLBACK] }))
        .send()
        .await
        .unwrap();
    assert_eq!(allowed.status(), 200);

    // Alice connects with a token that is about to expire (within the refresh margin).
    peer.set_access_token_ttl(30).await;
    let session: Value = http
        .post(format!("{base}/oauth/sessions"))
        .bearer_auth(&key)
        .json(&json!({ "provider": "oidc", "redirectUri": APP_CALLBACK }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let back = peer
        .authorize(session["data"]["url"].as_str().expect("url"), "alice", true)
        .await;
    assert_eq!(arrive(&back).await.status(), 303);
    peer.set_access_token_ttl(3600).await;

    let mut tokens = fifty_fetches(&http, &key, [mesh.gateway(0), mesh.gateway(1)]).await;
    tokens.dedup();
    assert_eq!(tokens.len(), 1, "every fetch got the one refreshed token");
    assert_eq!(peer.refreshes().await, 1, "exactly one refresh at the provider");
}

/// Fifty `/tokens/fetch` of `oidc` at once, alternating between the gateways at `bases`; each must
/// succeed. Answers the access tokens they got.
async fn fifty_fetches(http: &reqwest::Client, key: &str, bases: [String; 2]) -> Vec<String> {
    let bases = Arc::new(bases);
    let mut fetches = Vec::new();
    for index in 0..50 {
        let (http, key, bases) = (http.clone(), key.to_owned(), bases.clone());
        fetches.push(tokio::spawn(async move {
            let response = http
                .post(format!("{}/tokens/fetch", bases[index % 2]))
                .bearer_auth(key)
                .json(&json!({ "provider": "oidc" }))
                .send()
                .await
                .expect("fetch");
            let status = response.status();
            let body: Value = response.json().await.expect("json");
            assert_eq!(status, 200, "{body}");
            body["data"]["accessToken"].as_str().expect("token").to_owned()
        }));
    }
    let mut tokens = Vec::new();
    for fetch in fetches {
        tokens.push(fetch.await.expect("fetch task"));
    }
    tokens
}

#[tokio::test]
async fn fifty_concurrent_fetches_through_two_instances_refresh_once_on_sqlite() {
    concurrent_fetches_refresh_once(Backend::Sqlite, Bus::Local).await;
}

#[tokio::test]
async fn fifty_concurrent_fetches_through_two_instances_refresh_once_on_postgres() {
    concurrent_fetches_refresh_once(Backend::Postgres, Bus::Nats).await;
}

#[tokio::test]
async fn one_account_never_sees_or_touches_another_accounts_connections() {
    let (peer, mesh) = start(Backend::Sqlite, Bus::Local).await;
    connect(&peer, &mesh, &mesh.key, "alice").await;
    let (_, other) = mesh.mesh.create_account("Other account").await.expect("account");

    assert_eq!(
        problem_code(fetch(&mesh, &other, "oidc").await).await,
        (404, "INTEGRATION_NOT_FOUND".to_owned())
    );
    let disconnect = mesh
        .as_key(Method::DELETE, "/oauth/connections/oidc", &other)
        .send()
        .await
        .expect("disconnect");
    assert_eq!(
        problem_code(disconnect).await,
        (404, "INTEGRATION_NOT_FOUND".to_owned())
    );
    let listed: Value = mesh
        .as_key(Method::GET, "/oauth-tokens?identifierId=x&resource=oidc", &other)
        .send()
        .await
        .expect("list")
        .json()
        .await
        .expect("json");
    assert_eq!(listed["data"], json!([]));
    let uris: Value = mesh
        .as_key(Method::GET, "/oauth/redirect-uris", &other)
        .send()
        .await
        .expect("uris")
        .json()
        .await
        .expect("json");
    assert_eq!(uris["redirectUris"], json!([]), "redirect URIs are per account");
    // Once the other account keeps a list of its own, the first account's URI is not on it.
    let own_list = mesh
        .as_key(Method::PUT, "/oauth/redirect-uris", &other)
        .json(&json!({ "redirectUris": ["https://other.example/cb"] }))
        .send()
        .await
        .expect("PUT /oauth/redirect-uris");
    assert_eq!(own_list.status(), 200);
    let borrowed = create_session(
        &mesh,
        &other,
        json!({ "provider": "oidc", "redirectUri": APP_CALLBACK }),
    )
    .await;
    assert_eq!(borrowed.status(), 400, "another account's redirect URI is not allowed");

    // The first account still has its connection.
    fetch_ok(&mesh, &mesh.key).await;
    mesh.stop().await;
}

#[tokio::test]
async fn the_catalogue_lists_the_enabled_providers() {
    let (_peer, mesh) = start(Backend::Sqlite, Bus::Local).await;
    let listed: Value = mesh
        .http
        .get(mesh.url("/docs/providers"))
        .send()
        .await
        .expect("GET /docs/providers")
        .json()
        .await
        .expect("json");
    let codes: Vec<&str> = listed["data"]
        .as_array()
        .expect("data")
        .iter()
        .filter_map(|p| p["code"].as_str())
        .collect();
    for code in [
        "google",
        "microsoft",
        "github",
        "slack",
        "telegram",
        "oidc",
        "openai",
        "stripe",
        "vercel",
    ] {
        assert!(codes.contains(&code), "{code} in {codes:?}");
    }
    let oidc = listed["data"]
        .as_array()
        .expect("data")
        .iter()
        .find(|p| p["code"] == "oidc")
        .expect("oidc");
    assert_eq!(oidc["configured"], true);
    mesh.stop().await;
}

#[tokio::test]
async fn no_secret_reaches_the_logs_during_a_full_flow() {
    captured::install();
    let (peer, mesh) = start(Backend::Sqlite, Bus::Local).await;
    peer.set_access_token_ttl(30).await;
    let session = create_session(
        &mesh,
        &mesh.key,
        json!({ "provider": "oidc", "redirectUri": APP_CALLBACK }),
    )
    .await;
    let session: Value = session.json().await.expect("json");
    let back = peer
        .authorize(session["data"]["url"].as_str().expect("url"), "alice", true)
        .await;
    let callback = query_of(&back);
    assert_eq!(arrive(&back).await.status(), 303);
    peer.set_access_token_ttl(3600).await;
    let token = fetch_ok(&mesh, &mesh.key).await;
    let gone = mesh
        .as_key(Method::DELETE, "/oauth/connections/oidc", &mesh.key)
        .send()
        .await
        .expect("disconnect");
    assert_eq!(gone.status(), 200);

    // AGNT's flow: a refused exchange (its error is logged), then the real one.
    let url = agnt_flow::authorization_url(&mesh, &mesh.key, "oidc?identifierId=user-7").await;
    agnt_flow::authorize_at_client(&peer, &url, "alice").await;
    let refused = agnt_flow::exchange(
        &mesh,
        &mesh.key,
        json!({ "code": "forged-code-3f1c9a7e55", "provider": "oidc", "redirectUri": APP_CALLBACK }),
    )
    .await;
    assert_eq!(refused.status(), 400);
    let url = agnt_flow::authorization_url(&mesh, &mesh.key, "oidc?identifierId=user-7").await;
    let agnt = agnt_flow::authorize_at_client(&peer, &url, "alice").await;
    agnt_flow::exchange_ok(
        &mesh,
        &mesh.key,
        json!({ "code": agnt["code"], "provider": "oidc", "redirectUri": APP_CALLBACK, "state": agnt["state"] }),
    )
    .await;
    // An account's own app.
    let own_secret = "own-app-secret-logged-never-81c2";
    let own = mesh
        .as_key(Method::PUT, "/v1/oauth-apps/microsoft", &mesh.key)
        .json(&json!({ "clientId": "own-client", "clientSecret": own_secret }))
        .send()
        .await
        .expect("PUT /v1/oauth-apps/microsoft");
    assert_eq!(own.status(), 200);

    for (what, secret) in [
        ("client secret", CLIENT_SECRET),
        ("authorization code", callback["code"].as_str()),
        ("state", callback["state"].as_str()),
        ("access token", token["accessToken"].as_str().expect("token")),
        ("forged code", "forged-code-3f1c9a7e55"),
        ("exchanged code", agnt["code"].as_str()),
        ("exchanged state", agnt["state"].as_str()),
        ("own app's secret", own_secret),
    ] {
        captured::assert_not_captured(what, secret);
    }
    mesh.stop().await;
}

/// A service of the mesh's account that may send its users back to the app, with a key and one user.
async fn service_with_user(mesh: &TestMesh) -> (String, String) {
    let key = mesh
        .service_key(&mesh.key, "acme", "app", json!({ "redirect_uris": [APP_CALLBACK] }))
        .await;
    let user = mesh
        .created(&key, "/api/service/users", json!({ "email": "alice@example.test" }))
        .await;
    (key, user["id"].as_str().expect("user id").to_owned())
}

/// Follows an `action_required` answer's `reauth_url` as the end user's browser does: Latchkey's
/// hosted page, the provider's consent, Latchkey's callback, and back to the app.
async fn reconsent(
    peer: &OidcPeer,
    mesh: &TestMesh,
    reauth_url: &str,
    user: &str,
) -> std::collections::HashMap<String, String> {
    assert!(
        reauth_url.starts_with(&mesh.url("/connect/provider-token/")),
        "{reauth_url}"
    );
    let hosted = arrive(reauth_url).await;
    assert_eq!(hosted.status(), 302, "the hosted page starts the provider's flow");
    let authorization = hosted.headers()["location"].to_str().expect("location").to_owned();
    assert!(authorization.starts_with(&peer.issuer), "{authorization}");
    let back = peer.authorize(&authorization, user, true).await;
    assert!(back.starts_with(&mesh.url("/oauth/callback")), "{back}");
    let answer = arrive(&back).await;
    assert_eq!(answer.status(), 303);
    let location = answer.headers()["location"].to_str().expect("location");
    assert!(
        location.starts_with(APP_CALLBACK),
        "back where the request said: {location}"
    );
    query_of(location)
}

#[tokio::test]
async fn a_service_asks_for_a_users_provider_token_and_the_user_consents_on_latchkeys_page_sqlite() {
    a_service_asks_for_a_users_provider_token_and_the_user_consents_on_latchkeys_page(Backend::Sqlite, Bus::Local)
        .await;
}

#[tokio::test]
async fn a_service_asks_for_a_users_provider_token_and_the_user_consents_on_latchkeys_page_postgres_nats() {
    a_service_asks_for_a_users_provider_token_and_the_user_consents_on_latchkeys_page(Backend::Postgres, Bus::Nats)
        .await;
}

async fn a_service_asks_for_a_users_provider_token_and_the_user_consents_on_latchkeys_page(backend: Backend, bus: Bus) {
    let (peer, mesh) = start(backend, bus).await;
    let (key, user_id) = service_with_user(&mesh).await;
    let ask = |body: Value| {
        mesh.http
            .post(mesh.url("/api/service/provider-tokens"))
            .header("x-api-key", &key)
            .json(&body)
            .send()
    };
    let answer = |response: reqwest::Response| async move { response.json::<Value>().await.expect("json") };

    let missing = answer(
        ask(json!({ "provider": "oidc", "user_id": user_id, "redirect_uri": APP_CALLBACK }))
            .await
            .expect("ask"),
    )
    .await;
    assert_eq!(missing["status"], "action_required", "{missing}");
    assert_eq!(missing["code"], "connection_required");
    let reauth_url = missing["reauth_url"].as_str().expect("reauth_url");
    let outcome = reconsent(&peer, &mesh, reauth_url, "alice").await;
    assert_eq!(outcome["status"], "connected", "{outcome:?}");
    // The page works once.
    let again = arrive(reauth_url).await;
    assert_eq!(again.status(), 400, "a used reauth_url starts nothing");

    let ok = answer(
        ask(json!({ "provider": "oidc", "user_id": user_id, "scopes": ["email"] }))
            .await
            .expect("ask"),
    )
    .await;
    assert_eq!(ok["status"], "ok", "{ok}");
    assert_eq!(ok["account"]["email"], "alice@example.test");
    assert!(ok["access_token"].as_str().is_some_and(|token| !token.is_empty()));
    assert!(
        !ok["scopes"]
            .as_array()
            .expect("scopes")
            .contains(&json!("calendar.readonly"))
    );

    // Incremental authorization: the missing scope, granted on the hosted page, is there next time.
    let more = answer(
        ask(json!({ "provider": "oidc", "user_id": user_id, "scopes": ["email", "calendar.readonly"] }))
            .await
            .expect("ask"),
    )
    .await;
    assert_eq!(more["status"], "action_required", "{more}");
    assert_eq!(more["code"], "insufficient_scope");
    assert_eq!(more["missing_scopes"], json!(["calendar.readonly"]));
    let outcome = reconsent(&peer, &mesh, more["reauth_url"].as_str().expect("reauth_url"), "alice").await;
    assert_eq!(outcome["status"], "connected", "{outcome:?}");
    let granted = answer(
        ask(json!({ "provider": "oidc", "user_id": user_id, "scopes": ["email", "calendar.readonly"] }))
            .await
            .expect("ask"),
    )
    .await;
    assert_eq!(granted["status"], "ok", "{granted}");
    assert!(
        granted["scopes"]
            .as_array()
            .expect("scopes")
            .contains(&json!("calendar.readonly")),
        "{granted}"
    );

    // The account's own connection is not the user's, and a made-up page is nothing.
    assert_eq!(problem_code(fetch(&mesh, &mesh.key, "oidc").await).await.0, 404);
    let forged = arrive(&mesh.url("/connect/provider-token/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")).await;
    assert_eq!(forged.status(), 400);

    // A deleted user takes its connection with it, revoked at the provider.
    let users_token = |mesh: &TestMesh| {
        mesh.as_key(Method::POST, "/tokens/fetch", &mesh.key)
            .json(&json!({ "provider": "oidc", "endUserId": user_id }))
            .send()
    };
    assert_eq!(
        users_token(&mesh).await.expect("fetch").status(),
        200,
        "the account reaches its user's token"
    );
    let deleted = mesh
        .http
        .delete(mesh.url(&format!("/api/service/users/{user_id}")))
        .header("x-api-key", &key)
        .send()
        .await
        .expect("delete the user");
    assert_eq!(deleted.status(), 204);
    let gone = latchkey_test_support::read_until(
        std::time::Duration::from_secs(30),
        || async { users_token(&mesh).await.expect("fetch").status() },
        |status| *status == 404,
    )
    .await;
    assert_eq!(gone, 404, "the deleted user's connection is gone");
    mesh.stop().await;
}

#[tokio::test]
async fn an_api_key_provider_fetch_returns_the_stored_key_unless_write_only() {
    let (_peer, mesh) = start(Backend::Sqlite, Bus::Local).await;
    assert_eq!(
        problem_code(fetch(&mesh, &mesh.key, "openai").await).await,
        (404, "INTEGRATION_NOT_FOUND".to_owned())
    );
    let stored = mesh
        .as_key(Method::PUT, "/credentials", &mesh.key)
        .json(&json!({ "openaiApiKey": "sk-test-openai-0123456789" }))
        .send()
        .await
        .expect("PUT /credentials");
    assert_eq!(stored.status(), 200);
    let response = fetch(&mesh, &mesh.key, "openai").await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["data"]["accessToken"], "sk-test-openai-0123456789");
    assert_eq!(body["data"]["type"], "api_key");
    assert_eq!(body["data"]["expiresAt"], Value::Null);

    let (_, other) = mesh.mesh.create_account("Other account").await.expect("account");
    assert_eq!(
        problem_code(fetch(&mesh, &other, "openai").await).await,
        (404, "INTEGRATION_NOT_FOUND".to_owned()),
        "another account's key is not visible"
    );

    let sealed = mesh
        .as_key(Method::PUT, "/credentials", &mesh.key)
        .json(&json!({ "stripeApiKey": "sk_live_stripe_0123456789", "writeOnly": true }))
        .send()
        .await
        .expect("PUT /credentials");
    assert_eq!(sealed.status(), 200);
    assert_eq!(
        problem_code(fetch(&mesh, &mesh.key, "stripe").await).await,
        (403, "FORBIDDEN".to_owned()),
        "a write-only key is returned by no endpoint"
    );
    mesh.stop().await;
}

/// An account that keeps no list of redirect URIs: a session takes an https (or loopback http)
/// URI, answers its URL at the top level and in `data`, and refuses any other URI naming
/// `redirectUri`.
#[tokio::test]
async fn without_a_list_a_session_takes_an_https_redirect_uri_and_refuses_others() {
    let (_peer, mesh) = start(Backend::Sqlite, Bus::Local).await;
    let (_, key) = mesh.mesh.create_account("No list").await.expect("account");
    for uri in [
        "https://yourapp.com/callback",
        "http://127.0.0.1:8765/cb",
        "http://[::1]/cb",
        "http://localhost/cb",
    ] {
        let session = create_session(&mesh, &key, json!({ "provider": "oidc", "redirectUri": uri })).await;
        assert_eq!(session.status(), 201, "{uri}");
        let body: Value = session.json().await.expect("json");
        assert_eq!(body["status"], "success");
        assert!(body["url"].as_str().is_some_and(|url| !url.is_empty()), "{body}");
        assert_eq!(body["url"], body["data"]["url"]);
        assert_eq!(body["sessionId"], body["data"]["sessionId"]);
        assert_eq!(body["expiresAt"], body["data"]["expiresAt"]);
    }
    let overlong = format!("https://yourapp.com/{}", "a".repeat(2048));
    for uri in [
        "javascript:alert(document.cookie)",
        "http://yourapp.com/callback",
        "https://yourapp.com/callback#token",
        "https://user:pw@yourapp.com/callback",
        "data:text/html,x",
        overlong.as_str(),
    ] {
        let refused = create_session(&mesh, &key, json!({ "provider": "oidc", "redirectUri": uri })).await;
        let status = refused.status();
        let body: Value = refused.json().await.expect("json");
        assert_eq!(status, 400, "{uri}");
        assert_eq!(body["code"], "VALIDATION_ERROR");
        assert_eq!(body["errors"][0]["field"], "redirectUri", "{uri}: {body}");
    }
    mesh.stop().await;
}

/// A plan that allows one connection: the first connects, reconnecting it may start again, a
/// flow for a second end user is refused when it starts (402), an unknown provider is still a 400.
#[tokio::test]
async fn a_plans_connection_limit_is_checked_when_a_flow_starts() {
    let peer = OidcPeer::start().await;
    let one_connection = latchkey_server::PlanLimits {
        connections: Some(1),
        ..latchkey_server::PlanLimits::default()
    };
    let settings = latchkey::mesh::ServiceSettings {
        gateway: gateway_config(),
        oauth: oauth_config(&peer),
        plans: latchkey_server::Plans::new("small", [("small".to_owned(), one_connection)].into()).unwrap(),
        ..latchkey::mesh::ServiceSettings::default()
    };
    let mesh = TestMesh::start_with_settings(Backend::Sqlite, Bus::Local, settings).await;
    peer.register_client(&[&mesh.url("/oauth/callback"), APP_CALLBACK])
        .await;
    let allowed = mesh
        .as_key(Method::PUT, "/oauth/redirect-uris", &mesh.key)
        .json(&json!({ "redirectUris": [APP_CALLBACK] }))
        .send()
        .await
        .unwrap();
    assert_eq!(allowed.status(), 200);

    let query = connect(&peer, &mesh, &mesh.key, "alice").await;
    assert_eq!(query["status"], "connected", "{query:?}");
    let again = create_session(
        &mesh,
        &mesh.key,
        json!({ "provider": "oidc", "redirectUri": APP_CALLBACK }),
    )
    .await;
    assert_eq!(again.status(), 201, "reconnecting adds no connection");
    let second = create_session(
        &mesh,
        &mesh.key,
        json!({ "provider": "oidc", "redirectUri": APP_CALLBACK, "endUserId": "bob" }),
    )
    .await;
    let status = second.status();
    let problem: Value = second.json().await.unwrap();
    assert_eq!(status, 402, "{problem}");
    assert_eq!(
        (
            &problem["code"],
            &problem["resource"],
            &problem["limit"],
            &problem["usage"]
        ),
        (&json!("PLAN_LIMIT"), &json!("connections"), &json!(1), &json!(1))
    );
    let unknown = create_session(&mesh, &mesh.key, json!({ "provider": "nope", "endUserId": "bob" })).await;
    assert_eq!(problem_code(unknown).await, (400, "VALIDATION_ERROR".to_owned()));
    // A connect link starts a flow too: checked when it is minted (its opening has no plan).
    let link = |body: Value| {
        mesh.as_key(Method::POST, "/v1/connect-links", &mesh.key)
            .json(&body)
            .send()
    };
    let refused = link(json!({ "provider": "oidc", "identifierId": "bob" }))
        .await
        .expect("mint");
    assert_eq!(problem_code(refused).await, (402, "PLAN_LIMIT".to_owned()));
    let reconnect = link(json!({ "provider": "oidc", "flow": "callback" }))
        .await
        .expect("mint");
    assert_eq!(reconnect.status(), 201, "reconnecting adds no connection");
    mesh.stop().await;
}

/// The credential proxy with an OAuth connection: the provider's API (here the provider's own
/// userinfo endpoint, declared as a service in the deployment's catalogue file) gets the account's
/// access token, refreshed first when it is close to expiry, as `/tokens/fetch` would.
#[tokio::test]
async fn the_proxy_calls_with_the_oauth_token_refreshed_first() {
    let dir = tempfile::tempdir().unwrap();
    let catalogue = dir.path().join("providers.toml");
    let (peer, mesh) = start_configured(Backend::Sqlite, Bus::Local, |config| {
        let issuer = config
            .oidc_discovery_url
            .trim_end_matches("/.well-known/openid-configuration");
        std::fs::write(
            &catalogue,
            format!(
                r#"
[[provider]]
code = "oidc"
name = "OpenID Connect"
kind = "oauth2"
discovery = "config"
default_scopes = ["openid", "email", "offline_access"]
docs_url = "https://openid.net/specs/openid-connect-discovery-1_0.html"
services = [{{ code = "profile", name = "Profile", api_base_url = "{issuer}" }}]
"#
            ),
        )
        .unwrap();
        config.catalogue_file = catalogue.to_string_lossy().into_owned();
    })
    .await;
    // A token that is already within the refresh margin when it arrives.
    peer.set_access_token_ttl(30).await;
    connect(&peer, &mesh, &mesh.key, "alice").await;
    peer.set_access_token_ttl(3600).await;
    let refreshed_before = peer.refreshes().await;

    let answer = mesh
        .as_key(Method::GET, "/proxy/oidc/profile/me", &mesh.key)
        .send()
        .await
        .unwrap();
    let status = answer.status();
    assert_eq!(answer.headers()["latchkey-proxied"], "true");
    let body: Value = answer.json().await.expect("the provider's userinfo");
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["sub"], "alice", "{body}");
    assert!(
        peer.refreshes().await > refreshed_before,
        "the token was refreshed before the call"
    );

    // Once disconnected, nothing is sent.
    let gone = mesh
        .as_key(Method::DELETE, "/oauth/connections/oidc", &mesh.key)
        .send()
        .await
        .unwrap();
    assert_eq!(gone.status(), 200);
    let (status, code) = problem_code(
        mesh.as_key(Method::GET, "/proxy/oidc/profile/me", &mesh.key)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!((status, code.as_str()), (404, "INTEGRATION_NOT_FOUND"));
    mesh.stop().await;
}
