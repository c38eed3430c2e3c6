//! AGNT's `GET /auth/{provider}` started from a browser that holds no API key: a backend mints a
//! connect link (`POST /v1/connect-links`), the end user's browser opens it (no key), the provider
//! sends them to the client's callback, the backend exchanges the code, and `/oauth-tokens` lists
//! the connection under the link's identifier. A link works once, for its account only; what it
//! fixes cannot be changed by whoever holds it.

use latchkey_storage::Backend;
use latchkey_test_support::captured;
use reqwest::Method;
use serde_json::{Value, json};

use super::{APP_CALLBACK, agnt_flow, query_of, start};
use crate::support::{Bus, TestMesh};

/// A browser: no key, no redirects followed.
fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
}

async fn mint(mesh: &TestMesh, key: &str, body: Value) -> reqwest::Response {
    mesh.as_key(Method::POST, "/v1/connect-links", key)
        .json(&body)
        .send()
        .await
        .expect("POST /v1/connect-links")
}

pub(super) async fn mint_ok(mesh: &TestMesh, key: &str, body: Value) -> Value {
    let response = mint(mesh, key, body).await;
    let status = response.status();
    let cache = response
        .headers()
        .get("cache-control")
        .map(|value| value.to_str().unwrap_or_default().to_owned());
    let body: Value = response.json().await.expect("json");
    assert_eq!(status, 201, "{body}");
    assert_eq!(cache.as_deref(), Some("no-store"), "a link is a credential");
    body
}

/// The problem's status, code and first field.
async fn problem(response: reqwest::Response) -> (u16, String, String) {
    let status = response.status().as_u16();
    let body: Value = response.json().await.expect("json");
    (
        status,
        body["code"].as_str().unwrap_or_default().to_owned(),
        body["errors"][0]["field"].as_str().unwrap_or_default().to_owned(),
    )
}

async fn a_browser_without_a_key_connects_through_a_link(backend: Backend, bus: Bus) {
    captured::install();
    let (peer, mesh) = start(backend, bus).await;
    let link = mint_ok(
        &mesh,
        &mesh.key,
        json!({ "provider": "oidc", "identifierId": "user_456", "redirectUri": APP_CALLBACK }),
    )
    .await;
    let url = link["url"].as_str().expect("url");
    assert!(url.starts_with(&mesh.url("/auth/oidc?link=")), "{url}");
    assert!(link["id"].as_str().is_some_and(|id| id.starts_with("clink_")), "{link}");
    assert_eq!(link["provider"], "oidc");
    assert_eq!(link["identifier_id"], "user_456");
    assert_eq!(link["redirect_uri"], APP_CALLBACK);
    assert_eq!(link["flow"], "exchange");
    let expires = chrono::DateTime::parse_from_rfc3339(link["expires_at"].as_str().expect("expires_at")).expect("time");
    let lifetime = expires.signed_duration_since(chrono::Utc::now());
    assert!(
        lifetime > chrono::Duration::minutes(9) && lifetime <= chrono::Duration::minutes(10),
        "{lifetime}"
    );

    // What the link fixes cannot be changed beside it; the link survives the attempt.
    let tampered = browser()
        .get(format!("{url}&identifierId=someone-else"))
        .send()
        .await
        .expect("GET");
    assert_eq!(
        problem(tampered).await,
        (400, "VALIDATION_ERROR".to_owned(), "identifierId".to_owned())
    );

    let opened = browser().get(url).send().await.expect("GET the link");
    assert_eq!(opened.status(), 302);
    let location = opened.headers()["location"].to_str().expect("location").to_owned();
    assert!(location.starts_with(&peer.issuer), "{location}");
    let body: Value = opened.json().await.expect("json");
    assert_eq!(body["url"], location.as_str());

    let again = browser().get(url).send().await.expect("GET the link again");
    let (status, code, _) = problem(again).await;
    assert_eq!((status, code.as_str()), (400, "SESSION_EXPIRED"), "a link works once");

    let back = agnt_flow::authorize_at_client(&peer, &location, "alice").await;
    let body = json!({ "code": back["code"], "provider": "oidc", "redirectUri": APP_CALLBACK, "state": back["state"] });
    // Another account's backend cannot take the code: the session is the minting account's.
    let (_, other) = mesh.mesh.create_account("Other account").await.expect("account");
    let (status, code, _) = problem(agnt_flow::exchange(&mesh, &other, body.clone()).await).await;
    assert_eq!((status, code.as_str()), (400, "SESSION_EXPIRED"));
    let exchanged = agnt_flow::exchange_ok(&mesh, &mesh.key, body).await;
    assert_eq!(exchanged["success"], true);

    let listed: Value = mesh
        .as_key(
            Method::GET,
            "/oauth-tokens?identifierId=user_456&resource=oidc",
            &mesh.key,
        )
        .send()
        .await
        .expect("GET /oauth-tokens")
        .json()
        .await
        .expect("json");
    assert_eq!(listed["data"].as_array().map(Vec::len), Some(1), "{listed}");
    assert_eq!(listed["data"][0]["identifierId"], "user_456");
    assert_eq!(listed["data"][0]["id"], exchanged["connectionId"]);
    let elsewhere: Value = mesh
        .as_key(Method::GET, "/oauth-tokens?identifierId=user_456&resource=oidc", &other)
        .send()
        .await
        .expect("GET /oauth-tokens")
        .json()
        .await
        .expect("json");
    assert_eq!(elsewhere["data"], json!([]));
    let token = url.split("link=").nth(1).expect("the token");
    captured::assert_not_captured("connect link token", token);
    mesh.stop().await;
}

#[tokio::test]
async fn a_browser_without_a_key_connects_through_a_link_on_sqlite() {
    a_browser_without_a_key_connects_through_a_link(Backend::Sqlite, Bus::Local).await;
}

#[tokio::test]
async fn a_browser_without_a_key_connects_through_a_link_on_postgres_and_nats() {
    a_browser_without_a_key_connects_through_a_link(Backend::Postgres, Bus::Nats).await;
}

/// A callback-flow link: Latchkey's callback stores the connection and sends the browser to the
/// link's redirect URI with the outcome.
#[tokio::test]
async fn a_callback_link_is_finished_by_latchkey() {
    let (peer, mesh) = start(Backend::Sqlite, Bus::Local).await;
    let link = mint_ok(
        &mesh,
        &mesh.key,
        json!({ "provider": "oidc", "identifierId": "user-9", "redirectUri": APP_CALLBACK, "flow": "callback" }),
    )
    .await;
    assert_eq!(link["flow"], "callback");
    let opened = browser()
        .get(link["url"].as_str().expect("url"))
        .send()
        .await
        .expect("GET the link");
    assert_eq!(opened.status(), 302);
    let location = opened.headers()["location"].to_str().expect("location").to_owned();
    let back = peer.authorize(&location, "bob", true).await;
    assert!(back.starts_with(&mesh.url("/oauth/callback")), "{back}");
    let finished = super::arrive(&back).await;
    assert_eq!(finished.status(), 303);
    let outcome = query_of(finished.headers()["location"].to_str().expect("location"));
    assert_eq!(outcome["status"], "connected", "{outcome:?}");
    let fetched = mesh
        .as_key(Method::POST, "/tokens/fetch", &mesh.key)
        .json(&json!({ "provider": "oidc", "endUserId": "user-9" }))
        .send()
        .await
        .expect("POST /tokens/fetch");
    assert_eq!(fetched.status(), 200);
    mesh.stop().await;
}

#[tokio::test]
async fn a_link_is_refused_what_a_session_would_be_and_needs_a_key_to_mint() {
    let (_peer, mesh) = start(Backend::Sqlite, Bus::Local).await;
    let long_identifier = "u".repeat(257);
    for (body, field) in [
        (json!({}), "provider"),
        (json!({ "provider": "" }), "provider"),
        (json!({ "provider": "nope" }), "provider"),
        (json!({ "provider": "openai" }), "provider"),
        (json!({ "provider": 7 }), "provider"),
        (
            json!({ "provider": "oidc", "identifierId": long_identifier }),
            "identifierId",
        ),
        (json!({ "provider": "oidc", "identifierId": 7 }), "identifierId"),
        (
            json!({ "provider": "oidc", "redirectUri": "https://evil.example/cb" }),
            "redirectUri",
        ),
        (
            json!({ "provider": "oidc", "redirectUri": "javascript:alert(1)" }),
            "redirectUri",
        ),
        (json!({ "provider": "oidc", "scopes": "openid" }), "scopes"),
        (json!({ "provider": "oidc", "scopes": ["has space"] }), "scopes[0]"),
        (json!({ "provider": "oidc", "flow": "implicit" }), "flow"),
        (json!({ "provider": "oidc", "account": "acct_other" }), "account"),
    ] {
        let (status, code, named) = problem(mint(&mesh, &mesh.key, body.clone()).await).await;
        assert_eq!(
            (status, code.as_str(), named.as_str()),
            (400, "VALIDATION_ERROR", field),
            "{body}"
        );
    }
    let unauthenticated = mesh
        .http
        .post(mesh.url("/v1/connect-links"))
        .json(&json!({ "provider": "oidc" }))
        .send()
        .await
        .expect("POST without a key");
    assert_eq!(unauthenticated.status(), 401);

    // Opening: an unknown, malformed or misdirected link starts nothing; no key, no link: 401.
    let link = mint_ok(&mesh, &mesh.key, json!({ "provider": "oidc" })).await;
    let token = link["url"]
        .as_str()
        .and_then(|url| url.split("link=").nth(1))
        .expect("token")
        .to_owned();
    for path in [
        format!("/auth/oidc?link={}", "A".repeat(43)),
        "/auth/oidc?link=short".to_owned(),
        "/auth/oidc?link=".to_owned(),
    ] {
        let (status, code, _) = problem(browser().get(mesh.url(&path)).send().await.expect("GET")).await;
        assert_eq!((status, code.as_str()), (400, "SESSION_EXPIRED"), "{path}");
    }
    let (status, code, field) = problem(
        browser()
            .get(mesh.url(&format!("/auth/google?link={token}")))
            .send()
            .await
            .expect("GET"),
    )
    .await;
    assert_eq!(
        (status, code.as_str(), field.as_str()),
        (400, "VALIDATION_ERROR", "provider")
    );
    let bare = browser().get(mesh.url("/auth/oidc")).send().await.expect("GET");
    let bare: Value = bare.json().await.expect("json");
    assert_eq!(bare["code"], "UNAUTHORIZED");
    assert!(
        bare["detail"].as_str().unwrap_or_default().contains("connect link"),
        "{bare}"
    );
    // The misdirected attempt did not use the link up.
    let opened = browser()
        .get(mesh.url(&format!("/auth/oidc?link={token}")))
        .send()
        .await
        .expect("GET");
    assert_eq!(opened.status(), 302);
    mesh.stop().await;
}
