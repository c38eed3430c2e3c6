//! AGNT Connect's flow (seed 003): a backend calls `GET /auth/{provider}` with its key and sends the
//! end user to the provider; the provider sends the end user back to the CLIENT's redirect URI with
//! `code` and `state`; the backend posts them to `POST /auth/exchange`, and the connection is there
//! for `/tokens/fetch` and `/oauth-tokens`. Also every way an exchange goes wrong.

use std::collections::HashMap;

use latchkey_storage::Backend;
use reqwest::Method;
use serde_json::{Value, json};

use latchkey_test_support::oidc_peer::{CLIENT_ID, OidcPeer};

use super::{APP_CALLBACK, arrive, problem_code, query_of, start, start_configured};
use crate::support::{Bus, TestMesh};

/// `GET /auth/{path}` as a backend calls it: with its key, not following the redirect.
pub(super) async fn begin(mesh: &TestMesh, key: &str, path: &str) -> reqwest::Response {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
        .get(mesh.url(&format!("/auth/{path}")))
        .bearer_auth(key)
        .send()
        .await
        .expect("GET /auth/…")
}

/// A 302 from `GET /auth/{path}`: its Location, which the JSON body repeats.
pub(super) async fn authorization_url(mesh: &TestMesh, key: &str, path: &str) -> String {
    let response = begin(mesh, key, path).await;
    let status = response.status();
    let location = response
        .headers()
        .get("location")
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let body: Value = response.json().await.expect("json");
    assert_eq!(status, 302, "{body}");
    assert_eq!(body["url"], location.as_str(), "the body names the same URL");
    location
}

/// The end user authorizes at the provider, which sends them to the client's redirect URI: the
/// query that URI receives (`code`, `state`, `iss`).
pub(super) async fn authorize_at_client(peer: &OidcPeer, url: &str, user: &str) -> HashMap<String, String> {
    let back = peer.authorize(url, user, true).await;
    assert!(
        back.starts_with(APP_CALLBACK),
        "the provider sends the user to the client: {back}"
    );
    query_of(&back)
}

pub(super) async fn exchange(mesh: &TestMesh, key: &str, body: Value) -> reqwest::Response {
    mesh.as_key(Method::POST, "/auth/exchange", key)
        .json(&body)
        .send()
        .await
        .expect("POST /auth/exchange")
}

pub(super) async fn exchange_ok(mesh: &TestMesh, key: &str, body: Value) -> Value {
    let response = exchange(mesh, key, body).await;
    let status = response.status();
    let body: Value = response.json().await.expect("json");
    assert_eq!(status, 200, "{body}");
    body
}

/// A problem's status, code, first field and first message.
async fn problem(response: reqwest::Response) -> (u16, String, String, String) {
    let status = response.status().as_u16();
    let body: Value = response.json().await.expect("json");
    let text = |value: &Value| value.as_str().unwrap_or_default().to_owned();
    (
        status,
        text(&body["code"]),
        text(&body["errors"][0]["field"]),
        text(&body["errors"][0]["message"]),
    )
}

async fn an_end_user_connects_through_auth_and_exchange(backend: Backend, bus: Bus) {
    let (peer, mesh) = start(backend, bus).await;
    let path = format!(
        "oidc?redirectUri={}&identifierId=user-42&scopes=openid,email%20offline_access",
        urlencode(APP_CALLBACK)
    );
    let url = authorization_url(&mesh, &mesh.key, &path).await;
    assert!(url.starts_with(&peer.issuer), "{url}");
    let asked = query_of(&url);
    assert_eq!(
        asked["redirect_uri"], APP_CALLBACK,
        "the provider returns to the client"
    );
    assert_eq!(asked["client_id"], CLIENT_ID);
    assert_eq!(asked["response_type"], "code");
    assert_eq!(asked["code_challenge_method"], "S256");
    assert!(asked["code_challenge"].len() >= 43);
    assert!(asked["state"].len() >= 16);
    assert_eq!(asked["scope"], "openid email offline_access");

    let back = authorize_at_client(&peer, &url, "alice").await;
    assert_eq!(back["state"], asked["state"]);
    let exchanged = exchange_ok(
        &mesh,
        &mesh.key,
        json!({ "code": back["code"], "provider": "oidc", "redirectUri": APP_CALLBACK, "state": back["state"] }),
    )
    .await;
    assert_eq!(exchanged["success"], true);
    assert_eq!(exchanged["provider"], "oidc");
    let scopes: Vec<&str> = exchanged["scopes"]
        .as_array()
        .expect("scopes")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(scopes.contains(&"openid") && scopes.contains(&"email"), "{scopes:?}");
    let expires = exchanged["expiresAt"].as_str().expect("expiresAt");
    assert!(expires.ends_with('Z'), "{expires}");
    assert!(chrono::DateTime::parse_from_rfc3339(expires).expect("time") > chrono::Utc::now());
    assert_eq!(peer.stats().await["codeExchanges"], 1);

    let fetched = mesh
        .as_key(Method::POST, "/tokens/fetch", &mesh.key)
        .json(&json!({ "provider": "oidc", "endUserId": "user-42" }))
        .send()
        .await
        .expect("POST /tokens/fetch");
    assert_eq!(fetched.status(), 200);
    let fetched: Value = fetched.json().await.expect("json");
    assert_eq!(fetched["data"]["providerEmail"], "alice@example.test");
    assert!(
        fetched["data"]["accessToken"]
            .as_str()
            .is_some_and(|token| !token.is_empty())
    );

    let listed: Value = mesh
        .as_key(
            Method::GET,
            "/oauth-tokens?identifierId=user-42&resource=oidc",
            &mesh.key,
        )
        .send()
        .await
        .expect("GET /oauth-tokens")
        .json()
        .await
        .expect("json");
    let tokens = listed["data"].as_array().expect("data");
    assert_eq!(tokens.len(), 1, "{listed}");
    assert_eq!(tokens[0]["identifierId"], "user-42");
    assert_eq!(tokens[0]["resource"], "oidc");
    assert_eq!(tokens[0]["id"], exchanged["connectionId"]);
    assert_eq!(tokens[0]["status"], "active");
    mesh.stop().await;
}

fn urlencode(text: &str) -> String {
    reqwest::Url::parse_with_params("http://x/", [("v", text)])
        .expect("url")
        .query()
        .unwrap_or_default()
        .trim_start_matches("v=")
        .to_owned()
}

#[tokio::test]
async fn an_end_user_connects_through_auth_and_exchange_on_sqlite() {
    an_end_user_connects_through_auth_and_exchange(Backend::Sqlite, Bus::Local).await;
}

#[tokio::test]
async fn an_end_user_connects_through_auth_and_exchange_on_postgres_and_nats() {
    an_end_user_connects_through_auth_and_exchange(Backend::Postgres, Bus::Nats).await;
}

#[tokio::test]
async fn auth_google_redirects_to_google_with_the_documented_parameters() {
    let (_peer, mesh) = start_configured(Backend::Sqlite, Bus::Local, |config| {
        config.clients.insert(
            "google".to_owned(),
            latchkey_oauth::ClientCredentials {
                client_id: "1234-deployment.apps.googleusercontent.com".to_owned(),
                client_secret: "google-deployment-secret-0123".to_owned(),
            },
        );
    })
    .await;
    // The account has exactly one allowed redirect URI: it is the one used.
    let url = authorization_url(&mesh, &mesh.key, "google").await;
    let parsed = reqwest::Url::parse(&url).expect("url");
    assert_eq!(parsed.host_str(), Some("accounts.google.com"));
    assert_eq!(parsed.path(), "/o/oauth2/v2/auth");
    let asked = query_of(&url);
    assert_eq!(asked["client_id"], "1234-deployment.apps.googleusercontent.com");
    assert_eq!(asked["redirect_uri"], APP_CALLBACK);
    assert_eq!(asked["response_type"], "code");
    assert_eq!(asked["code_challenge_method"], "S256");
    assert_eq!(
        asked["access_type"], "offline",
        "without it Google issues no refresh token"
    );
    assert_eq!(asked["scope"], "openid email");
    assert!(!asked["state"].is_empty());
    assert!(
        !url.contains("google-deployment-secret"),
        "the secret is never in the URL"
    );

    // Microsoft is documented but this deployment has no app for it.
    let (status, code, field, _) = problem(begin(&mesh, &mesh.key, "microsoft").await).await;
    assert_eq!(
        (status, code.as_str(), field.as_str()),
        (400, "VALIDATION_ERROR", "provider")
    );
    let long_identifier = format!("google?identifierId={}", "u".repeat(257));
    for (path, wrong) in [
        ("nope", "provider"),
        ("openai", "provider"),
        ("google?redirectUri=https%3A%2F%2Fevil.example%2Fcb", "redirectUri"),
        (long_identifier.as_str(), "identifierId"),
        ("google?unknown=1", "unknown"),
    ] {
        let (status, code, field, _) = problem(begin(&mesh, &mesh.key, path).await).await;
        assert_eq!(
            (status, code.as_str(), field.as_str()),
            (400, "VALIDATION_ERROR", wrong),
            "{path}"
        );
    }
    // With two allowed redirect URIs the client must say which.
    let two = mesh
        .as_key(Method::PUT, "/oauth/redirect-uris", &mesh.key)
        .json(&json!({ "redirectUris": [APP_CALLBACK, "https://app.example/other"] }))
        .send()
        .await
        .expect("PUT /oauth/redirect-uris");
    assert_eq!(two.status(), 200);
    let (status, _, field, _) = problem(begin(&mesh, &mesh.key, "google").await).await;
    assert_eq!((status, field.as_str()), (400, "redirectUri"));
    let unauthenticated = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
        .get(mesh.url("/auth/google"))
        .send()
        .await
        .expect("GET /auth/google");
    assert_eq!(unauthenticated.status(), 401);
    mesh.stop().await;
}

#[tokio::test]
async fn a_seed_client_exchanges_without_state_and_cannot_replay() {
    let (peer, mesh) = start(Backend::Sqlite, Bus::Local).await;
    let url = authorization_url(&mesh, &mesh.key, "oidc").await;
    let back = authorize_at_client(&peer, &url, "alice").await;
    // Exactly what seed 003 sends: code, provider, redirectUri.
    let seed_body = json!({ "code": back["code"], "provider": "oidc", "redirectUri": APP_CALLBACK });
    let exchanged = exchange_ok(&mesh, &mesh.key, seed_body.clone()).await;
    assert_eq!(exchanged["success"], true);

    let (status, code, _, _) = problem(exchange(&mesh, &mesh.key, seed_body).await).await;
    assert_eq!((status, code.as_str()), (400, "SESSION_EXPIRED"), "the session is used");
    let with_state =
        json!({ "code": back["code"], "provider": "oidc", "redirectUri": APP_CALLBACK, "state": back["state"] });
    let (status, code, _, _) = problem(exchange(&mesh, &mesh.key, with_state).await).await;
    assert_eq!((status, code.as_str()), (400, "SESSION_EXPIRED"));
    assert_eq!(
        peer.stats().await["codeExchanges"],
        1,
        "a replay never reaches the provider"
    );
    mesh.stop().await;
}

/// The provider email `/tokens/fetch` answers for `end_user`'s `oidc` connection.
async fn connected_email(mesh: &TestMesh, end_user: &str) -> Value {
    let fetched = mesh
        .as_key(Method::POST, "/tokens/fetch", &mesh.key)
        .json(&json!({ "provider": "oidc", "endUserId": end_user }))
        .send()
        .await
        .expect("POST /tokens/fetch");
    let status = fetched.status();
    let fetched: Value = fetched.json().await.expect("json");
    assert_eq!(status, 200, "{fetched}");
    fetched["data"]["providerEmail"].clone()
}

/// Two end users authorize at once with one provider and redirect URI, and the client sends no
/// state: the code could be either's, so the exchange is refused naming `state`, nothing reaches the
/// provider and both sessions stay usable. A wrong state finds nothing. Once one session is used,
/// the other is the only one pending and the seed's stateless body takes it.
async fn without_state_only_a_lone_pending_session_is_taken(backend: Backend, bus: Bus) {
    let (peer, mesh) = start(backend, bus).await;
    let alice_url = authorization_url(&mesh, &mesh.key, "oidc?identifierId=user-alice").await;
    let bob_url = authorization_url(&mesh, &mesh.key, "oidc?identifierId=user-bob").await;
    let alice = authorize_at_client(&peer, &alice_url, "alice").await;
    let bob = authorize_at_client(&peer, &bob_url, "bob").await;
    let seed = |back: &HashMap<String, String>| json!({ "code": back["code"], "provider": "oidc", "redirectUri": APP_CALLBACK });
    let with_state = |back: &HashMap<String, String>, state: &str| json!({ "code": back["code"], "provider": "oidc", "redirectUri": APP_CALLBACK, "state": state });

    for back in [&alice, &bob] {
        let (status, code, field, _) = problem(exchange(&mesh, &mesh.key, seed(back)).await).await;
        assert_eq!(
            (status, code.as_str(), field.as_str()),
            (400, "VALIDATION_ERROR", "state"),
            "two sessions pending: no guess"
        );
    }
    let (status, code, _, _) =
        problem(exchange(&mesh, &mesh.key, with_state(&alice, "a-state-the-provider-never-sent")).await).await;
    assert_eq!((status, code.as_str()), (400, "SESSION_EXPIRED"), "a wrong state");
    assert_eq!(peer.stats().await["codeExchanges"], 0, "nothing was exchanged");

    let exchanged = exchange_ok(&mesh, &mesh.key, with_state(&alice, &alice["state"])).await;
    assert_eq!(exchanged["success"], true);
    assert_eq!(connected_email(&mesh, "user-alice").await, "alice@example.test");
    let exchanged = exchange_ok(&mesh, &mesh.key, seed(&bob)).await;
    assert_eq!(exchanged["success"], true, "the one pending session");
    assert_eq!(connected_email(&mesh, "user-bob").await, "bob@example.test");
    assert_eq!(peer.stats().await["codeExchanges"], 2);
    mesh.stop().await;
}

#[tokio::test]
async fn without_state_only_a_lone_pending_session_is_taken_on_sqlite() {
    without_state_only_a_lone_pending_session_is_taken(Backend::Sqlite, Bus::Local).await;
}

#[tokio::test]
async fn without_state_only_a_lone_pending_session_is_taken_on_postgres_and_nats() {
    without_state_only_a_lone_pending_session_is_taken(Backend::Postgres, Bus::Nats).await;
}

#[tokio::test]
async fn an_exchange_names_the_fields_it_cannot_accept() {
    let (_peer, mesh) = start(Backend::Sqlite, Bus::Local).await;
    for (body, field) in [
        (json!({ "provider": "oidc", "redirectUri": APP_CALLBACK }), "code"),
        (json!({ "code": "c", "redirectUri": APP_CALLBACK }), "provider"),
        (json!({ "code": "c", "provider": "oidc" }), "redirectUri"),
        (
            json!({ "code": "", "provider": "oidc", "redirectUri": APP_CALLBACK }),
            "code",
        ),
        (
            json!({ "code": "c", "provider": "nope", "redirectUri": APP_CALLBACK }),
            "provider",
        ),
        (
            json!({ "code": "c", "provider": "openai", "redirectUri": APP_CALLBACK }),
            "provider",
        ),
        (
            json!({ "code": "c", "provider": "oidc", "redirectUri": "https://evil.example/cb" }),
            "redirectUri",
        ),
    ] {
        let (status, code, named, _) = problem(exchange(&mesh, &mesh.key, body.clone()).await).await;
        assert_eq!(
            (status, code.as_str(), named.as_str()),
            (400, "VALIDATION_ERROR", field),
            "{body}"
        );
    }
    // Nothing was ever started: no session matches.
    let (status, code, _, _) = problem(
        exchange(
            &mesh,
            &mesh.key,
            json!({ "code": "c", "provider": "oidc", "redirectUri": APP_CALLBACK }),
        )
        .await,
    )
    .await;
    assert_eq!((status, code.as_str()), (400, "SESSION_EXPIRED"));
    mesh.stop().await;
}

#[tokio::test]
async fn an_exchange_with_another_redirect_uri_fails_and_uses_up_the_session() {
    let (peer, mesh) = start(Backend::Sqlite, Bus::Local).await;
    let other = "https://app.example/elsewhere";
    let allowed = mesh
        .as_key(Method::PUT, "/oauth/redirect-uris", &mesh.key)
        .json(&json!({ "redirectUris": [APP_CALLBACK, other] }))
        .send()
        .await
        .expect("PUT /oauth/redirect-uris");
    assert_eq!(allowed.status(), 200);
    let url = authorization_url(
        &mesh,
        &mesh.key,
        &format!("oidc?redirectUri={}", urlencode(APP_CALLBACK)),
    )
    .await;
    let back = authorize_at_client(&peer, &url, "alice").await;

    let wrong = json!({ "code": back["code"], "provider": "oidc", "redirectUri": other, "state": back["state"] });
    let (status, code, field, _) = problem(exchange(&mesh, &mesh.key, wrong).await).await;
    assert_eq!(
        (status, code.as_str(), field.as_str()),
        (400, "VALIDATION_ERROR", "redirectUri")
    );
    let right =
        json!({ "code": back["code"], "provider": "oidc", "redirectUri": APP_CALLBACK, "state": back["state"] });
    let (status, code, _, _) = problem(exchange(&mesh, &mesh.key, right).await).await;
    assert_eq!(
        (status, code.as_str()),
        (400, "SESSION_EXPIRED"),
        "single use, even when it failed"
    );

    // Without state, a session for one redirect URI is not found through another.
    let url = authorization_url(
        &mesh,
        &mesh.key,
        &format!("oidc?redirectUri={}", urlencode(APP_CALLBACK)),
    )
    .await;
    let back = authorize_at_client(&peer, &url, "alice").await;
    let elsewhere = json!({ "code": back["code"], "provider": "oidc", "redirectUri": other });
    let (status, code, _, _) = problem(exchange(&mesh, &mesh.key, elsewhere).await).await;
    assert_eq!((status, code.as_str()), (400, "SESSION_EXPIRED"));
    assert_eq!(peer.stats().await["codeExchanges"], 0);
    mesh.stop().await;
}

#[tokio::test]
async fn an_expired_exchange_session_comes_back_as_session_expired() {
    let (peer, mesh) = start_configured(Backend::Sqlite, Bus::Local, |config| config.session_ttl_secs = 0).await;
    let url = authorization_url(&mesh, &mesh.key, "oidc").await;
    let back = authorize_at_client(&peer, &url, "alice").await;
    for body in [
        json!({ "code": back["code"], "provider": "oidc", "redirectUri": APP_CALLBACK }),
        json!({ "code": back["code"], "provider": "oidc", "redirectUri": APP_CALLBACK, "state": back["state"] }),
    ] {
        let (status, code, _, _) = problem(exchange(&mesh, &mesh.key, body).await).await;
        assert_eq!((status, code.as_str()), (400, "SESSION_EXPIRED"));
    }
    assert_eq!(
        peer.stats().await["codeExchanges"],
        0,
        "an expired session's code is never exchanged"
    );
    mesh.stop().await;
}

#[tokio::test]
async fn a_code_the_provider_refuses_is_a_clear_400_and_uses_up_the_session() {
    let (peer, mesh) = start(Backend::Sqlite, Bus::Local).await;
    let url = authorization_url(&mesh, &mesh.key, "oidc").await;
    let back = authorize_at_client(&peer, &url, "alice").await;
    let forged = json!({ "code": "not-a-code-the-provider-issued", "provider": "oidc", "redirectUri": APP_CALLBACK, "state": back["state"] });
    let (status, code, field, message) = problem(exchange(&mesh, &mesh.key, forged).await).await;
    assert_eq!(
        (status, code.as_str(), field.as_str()),
        (400, "VALIDATION_ERROR", "code")
    );
    assert!(message.contains("invalid_grant"), "{message}");
    let real = json!({ "code": back["code"], "provider": "oidc", "redirectUri": APP_CALLBACK, "state": back["state"] });
    let (status, code, _, _) = problem(exchange(&mesh, &mesh.key, real).await).await;
    assert_eq!((status, code.as_str()), (400, "SESSION_EXPIRED"));
    assert_eq!(
        problem_code(super::fetch(&mesh, &mesh.key, "oidc").await).await,
        (404, "INTEGRATION_NOT_FOUND".to_owned())
    );
    mesh.stop().await;
}

#[tokio::test]
async fn another_account_never_finds_the_session_and_the_callback_never_takes_it() {
    let (peer, mesh) = start(Backend::Sqlite, Bus::Local).await;
    let (_, other) = mesh.mesh.create_account("Other account").await.expect("account");
    let allowed = mesh
        .as_key(Method::PUT, "/oauth/redirect-uris", &other)
        .json(&json!({ "redirectUris": [APP_CALLBACK] }))
        .send()
        .await
        .expect("PUT /oauth/redirect-uris");
    assert_eq!(allowed.status(), 200);
    let url = authorization_url(&mesh, &mesh.key, "oidc").await;
    let back = authorize_at_client(&peer, &url, "alice").await;

    for body in [
        json!({ "code": back["code"], "provider": "oidc", "redirectUri": APP_CALLBACK, "state": back["state"] }),
        json!({ "code": back["code"], "provider": "oidc", "redirectUri": APP_CALLBACK }),
    ] {
        let (status, code, _, _) = problem(exchange(&mesh, &other, body).await).await;
        assert_eq!(
            (status, code.as_str()),
            (400, "SESSION_EXPIRED"),
            "another account's session"
        );
    }
    // The gateway's callback consumes only its own sessions.
    let callback = arrive(&mesh.url(&format!(
        "/oauth/callback?state={}&code={}",
        urlencode(&back["state"]),
        urlencode(&back["code"])
    )))
    .await;
    assert_eq!(callback.status(), 400);
    assert_eq!(peer.stats().await["codeExchanges"], 0);

    // The owner's session is untouched by all of it.
    let exchanged = exchange_ok(
        &mesh,
        &mesh.key,
        json!({ "code": back["code"], "provider": "oidc", "redirectUri": APP_CALLBACK, "state": back["state"] }),
    )
    .await;
    assert_eq!(exchanged["success"], true);
    assert_eq!(
        problem_code(super::fetch(&mesh, &other, "oidc").await).await,
        (404, "INTEGRATION_NOT_FOUND".to_owned())
    );
    mesh.stop().await;
}
