//! An account registers its own OAuth app (`/v1/oauth-apps`): its sessions, exchanges, callbacks and
//! refreshes then use that client at the provider, while other accounts keep the deployment's. The
//! secret is never answered, listed or announced.

use latchkey_storage::Backend;
use reqwest::Method;
use serde_json::{Value, json};

use latchkey_test_support::oidc_peer::CLIENT_ID;

use super::{
    APP_CALLBACK,
    agnt_flow::{authorization_url, authorize_at_client, exchange_ok},
    connect, fetch_ok, start,
};
use crate::support::{Bus, TestMesh};

const OWN_CLIENT_ID: &str = "account-a-own-client";
const OWN_CLIENT_SECRET: &str = "own-client-secret-7d1e9b44c2a0";

async fn put_app(mesh: &TestMesh, key: &str, provider: &str, body: Value) -> reqwest::Response {
    mesh.as_key(Method::PUT, &format!("/v1/oauth-apps/{provider}"), key)
        .json(&body)
        .send()
        .await
        .expect("PUT /v1/oauth-apps/…")
}

async fn list_apps(mesh: &TestMesh, key: &str) -> (String, Value) {
    let response = mesh
        .as_key(Method::GET, "/v1/oauth-apps", key)
        .send()
        .await
        .expect("GET /v1/oauth-apps");
    assert_eq!(response.status(), 200);
    let text = response.text().await.expect("text");
    let body = serde_json::from_str(&text).expect("json");
    (text, body)
}

async fn delete_app(mesh: &TestMesh, key: &str, provider: &str) -> reqwest::Response {
    mesh.as_key(Method::DELETE, &format!("/v1/oauth-apps/{provider}"), key)
        .send()
        .await
        .expect("DELETE /v1/oauth-apps/…")
}

#[tokio::test]
async fn an_account_registers_lists_and_removes_its_own_app_without_the_secret_showing() {
    let (_peer, mesh) = start(Backend::Sqlite, Bus::Local).await;
    let (_, empty) = list_apps(&mesh, &mesh.key).await;
    assert_eq!(empty["data"], json!([]));

    let stored = put_app(
        &mesh,
        &mesh.key,
        "microsoft",
        json!({ "clientId": OWN_CLIENT_ID, "clientSecret": OWN_CLIENT_SECRET }),
    )
    .await;
    assert_eq!(stored.status(), 200);
    let text = stored.text().await.expect("text");
    assert!(!text.contains(OWN_CLIENT_SECRET), "{text}");
    let stored: Value = serde_json::from_str(&text).expect("json");
    assert_eq!(stored["provider"], "microsoft");
    assert_eq!(stored["clientId"], OWN_CLIENT_ID);
    assert_eq!(stored["clientSecretLast4"], "c2a0");
    assert!(
        stored["updatedAt"].as_str().is_some_and(|at| at.ends_with('Z')),
        "{stored}"
    );

    let (text, listed) = list_apps(&mesh, &mesh.key).await;
    assert!(
        !text.contains(OWN_CLIENT_SECRET) && !text.contains("secret-7d1e"),
        "{text}"
    );
    assert_eq!(listed["data"], json!([stored]));

    // The deployment has no Microsoft app; the account's own makes the flow start.
    let url = authorization_url(&mesh, &mesh.key, "microsoft").await;
    let parsed = reqwest::Url::parse(&url).expect("url");
    assert_eq!(parsed.host_str(), Some("login.microsoftonline.com"));
    assert_eq!(super::query_of(&url)["client_id"], OWN_CLIENT_ID);

    // Short secrets show no last four characters.
    let short = put_app(
        &mesh,
        &mesh.key,
        "oidc",
        json!({ "clientId": "c", "clientSecret": "short" }),
    )
    .await;
    assert_eq!(short.status(), 200);
    let short: Value = short.json().await.expect("json");
    assert_eq!(short["clientSecretLast4"], Value::Null);

    for (provider, body, field) in [
        (
            "nope",
            json!({ "clientId": "c", "clientSecret": OWN_CLIENT_SECRET }),
            "provider",
        ),
        (
            "openai",
            json!({ "clientId": "c", "clientSecret": OWN_CLIENT_SECRET }),
            "provider",
        ),
        (
            "telegram",
            json!({ "clientId": "c", "clientSecret": OWN_CLIENT_SECRET }),
            "provider",
        ),
        ("google", json!({ "clientSecret": OWN_CLIENT_SECRET }), "clientId"),
        ("google", json!({ "clientId": "c" }), "clientSecret"),
        (
            "google",
            json!({ "clientId": " ", "clientSecret": OWN_CLIENT_SECRET }),
            "clientId",
        ),
        ("google", json!({ "clientId": "c", "clientSecret": "" }), "clientSecret"),
    ] {
        let response = put_app(&mesh, &mesh.key, provider, body.clone()).await;
        let status = response.status();
        let problem: Value = response.json().await.expect("json");
        assert_eq!(status, 400, "{provider} {body}");
        assert_eq!(problem["code"], "VALIDATION_ERROR");
        assert_eq!(problem["errors"][0]["field"], field, "{problem}");
    }
    let (_, listed) = list_apps(&mesh, &mesh.key).await;
    let providers: Vec<&str> = listed["data"]
        .as_array()
        .expect("data")
        .iter()
        .filter_map(|app| app["provider"].as_str())
        .collect();
    assert_eq!(providers, ["microsoft", "oidc"], "a refused write stores nothing");

    assert_eq!(delete_app(&mesh, &mesh.key, "microsoft").await.status(), 204);
    assert_eq!(delete_app(&mesh, &mesh.key, "microsoft").await.status(), 404);
    assert_eq!(delete_app(&mesh, &mesh.key, "nope").await.status(), 400);
    let response = super::agnt_flow::begin(&mesh, &mesh.key, "microsoft").await;
    assert_eq!(response.status(), 400, "without an app Microsoft cannot start again");

    // Every change is announced, without the secret.
    let announced = latchkey_test_support::eventually(std::time::Duration::from_secs(30), || async {
        let entries = mesh.audit_entries(&mesh.key).await;
        entries
            .iter()
            .filter(|entry| entry["type"] == "oauth_app.updated")
            .count()
            == 3
    })
    .await;
    let entries = mesh.audit_entries(&mesh.key).await;
    assert!(announced, "three oauth_app.updated entries: {entries:?}");
    let text = serde_json::to_string(&entries).expect("json");
    assert!(!text.contains(OWN_CLIENT_SECRET) && !text.contains("short\""), "{text}");
    mesh.stop().await;
}

#[tokio::test]
async fn an_accounts_own_app_is_what_its_flows_use_and_no_one_elses() {
    let (peer, mesh) = start(Backend::Sqlite, Bus::Local).await;
    let callback = mesh.url("/oauth/callback");
    peer.register_app(OWN_CLIENT_ID, OWN_CLIENT_SECRET, &[&callback, APP_CALLBACK])
        .await;
    let stored = put_app(
        &mesh,
        &mesh.key,
        "oidc",
        json!({ "clientId": OWN_CLIENT_ID, "clientSecret": OWN_CLIENT_SECRET }),
    )
    .await;
    assert_eq!(stored.status(), 200);
    let (_, other) = mesh.mesh.create_account("Other account").await.expect("account");
    let allowed = mesh
        .as_key(Method::PUT, "/oauth/redirect-uris", &other)
        .json(&json!({ "redirectUris": [APP_CALLBACK] }))
        .send()
        .await
        .expect("PUT /oauth/redirect-uris");
    assert_eq!(allowed.status(), 200);

    // AGNT's flow with the account's own client: authorize and exchange.
    let url = authorization_url(&mesh, &mesh.key, "oidc").await;
    assert_eq!(super::query_of(&url)["client_id"], OWN_CLIENT_ID);
    let back = authorize_at_client(&peer, &url, "alice").await;
    exchange_ok(
        &mesh,
        &mesh.key,
        json!({ "code": back["code"], "provider": "oidc", "redirectUri": APP_CALLBACK, "state": back["state"] }),
    )
    .await;

    // The callback flow and the refresh: a refresh token is bound to the client that got it, so a
    // refresh with the deployment's client would be refused.
    peer.set_access_token_ttl(30).await;
    let outcome = connect(&peer, &mesh, &mesh.key, "alice").await;
    assert_eq!(outcome["status"], "connected", "{outcome:?}");
    peer.set_access_token_ttl(3600).await;
    fetch_ok(&mesh, &mesh.key).await;
    assert_eq!(peer.refreshes().await, 1);
    assert_eq!(peer.stats().await["refreshFailures"], 0);

    // The other account neither sees nor removes it, and its flows use the deployment's app.
    let (_, listed) = list_apps(&mesh, &other).await;
    assert_eq!(listed["data"], json!([]));
    assert_eq!(delete_app(&mesh, &other, "oidc").await.status(), 404);
    let url = authorization_url(&mesh, &other, "oidc").await;
    assert_eq!(super::query_of(&url)["client_id"], CLIENT_ID);
    let back = authorize_at_client(&peer, &url, "bob").await;
    exchange_ok(
        &mesh,
        &other,
        json!({ "code": back["code"], "provider": "oidc", "redirectUri": APP_CALLBACK }),
    )
    .await;
    let (_, listed) = list_apps(&mesh, &mesh.key).await;
    assert_eq!(listed["data"][0]["clientId"], OWN_CLIENT_ID, "still there");

    // Removed: the deployment's app again.
    assert_eq!(delete_app(&mesh, &mesh.key, "oidc").await.status(), 204);
    let url = authorization_url(&mesh, &mesh.key, "oidc").await;
    assert_eq!(super::query_of(&url)["client_id"], CLIENT_ID);
    mesh.stop().await;
}
