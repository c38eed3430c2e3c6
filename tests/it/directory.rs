//! AuthOS's directory as its users meet it: an account sets up an organization and its services
//! and hands each service's backend an API key; the backend manages its users and subscriptions
//! with the calls the AuthOS SDK makes (`listUsers({limit, offset})` → `{users, total}`,
//! `createUser`, `createSubscription`, `getAnalytics`), replayed here as HTTP. A service key sees
//! its own service and nothing else: another service's users, subscriptions, info and tokens are
//! answered exactly as ones that do not exist. Both backends; bad input per field; the events in
//! the audit chain and delivered by webhook.

use std::time::Duration;

use latchkey::mesh::ServiceSettings;
use latchkey_server::{PlanLimits, Plans};
use latchkey_storage::Backend;
use latchkey_test_support::{captured, read_until};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::{
    support::{Bus, TestMesh},
    webhooks::peer::VerifyingReceiver,
};

/// One call: with `key` as `X-Api-Key` (how the AuthOS SDK sends a service key), and the service
/// header when given.
async fn call(
    t: &TestMesh,
    method: Method,
    path: &str,
    key: &str,
    service: Option<&str>,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let mut request = t.http.request(method, t.url(path)).header("x-api-key", key);
    if let Some(service) = service {
        request = request.header("x-latchkey-service", service);
    }
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.expect("request");
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn created(t: &TestMesh, path: &str, key: &str, body: Value) -> Value {
    t.created(key, path, body).await
}

/// An organization `org` with a service `service`, and a key of that service.
async fn service_with_key(t: &TestMesh, account_key: &str, org: &str, service: &str, body: Value) -> String {
    t.service_key(account_key, org, service, body).await
}

/// What a refusal says, without what differs per request (`instance`, `request_id`).
fn refusal(status: StatusCode, body: &Value) -> (u16, Value, Value, Value) {
    (
        status.as_u16(),
        body["code"].clone(),
        body["title"].clone(),
        body["detail"].clone(),
    )
}

async fn a_service_key_sees_its_own_service_only(backend: Backend, bus: Bus) {
    captured::install();
    let t = TestMesh::start(backend, bus).await;
    let receiver = VerifyingReceiver::start().await;
    let (status, hook) = call(
        &t,
        Method::POST,
        "/v1/webhooks",
        &t.key,
        None,
        Some(json!({ "url": receiver.url, "events": ["user.*", "subscription.*"] })),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{hook}");
    receiver
        .verify_with(&[("current", hook["secret"].as_str().expect("secret"))])
        .await;

    let main = service_with_key(&t, &t.key, "acme", "main-app", json!({ "service_type": "web" })).await;
    let other = service_with_key(&t, &t.key, "acme", "other-app", json!({})).await;
    assert!(main.starts_with("lk_svc_"), "{main}");

    // listUsers({limit: 50, offset: 0}) on an empty service, createUser, createSubscription.
    let (status, empty) = call(
        &t,
        Method::GET,
        "/api/service/users?limit=50&offset=0",
        &main,
        None,
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{empty}");
    assert_eq!(empty, json!({ "users": [], "total": 0 }));
    let user = created(&t, "/api/service/users", &main, json!({ "email": "user@example.com" })).await;
    let user_id = user["id"].as_str().expect("id").to_owned();
    assert!(user_id.starts_with("usr_"), "{user}");
    assert_eq!(user["email"], "user@example.com");
    let subscription = created(
        &t,
        "/api/service/subscriptions",
        &main,
        json!({ "user_id": user_id, "plan_id": "plan-id", "status": "active" }),
    )
    .await;
    assert_eq!(subscription["user_id"], user_id.as_str());
    assert_eq!(subscription["status"], "active");
    for n in 0..3 {
        created(
            &t,
            "/api/service/users",
            &main,
            json!({ "email": format!("more{n}@example.com") }),
        )
        .await;
    }
    let (_, page) = call(
        &t,
        Method::GET,
        "/api/service/users?limit=2&offset=1",
        &main,
        None,
        None,
    )
    .await;
    assert_eq!(page["total"], 4, "{page}");
    // Oldest first to the millisecond; users made in the same one are listed in id order.
    let (_, everyone) = call(
        &t,
        Method::GET,
        "/api/service/users?limit=50&offset=0",
        &main,
        None,
        None,
    )
    .await;
    let everyone = everyone["users"].as_array().expect("users").clone();
    let order = |user: &Value| {
        let created = chrono::DateTime::parse_from_rfc3339(user["created_at"].as_str().expect("created_at"))
            .expect("an RFC 3339 time");
        (created, user["id"].as_str().expect("id").to_owned())
    };
    assert!(everyone.is_sorted_by_key(order), "oldest first: {everyone:?}");
    let mut emails: Vec<&str> = everyone.iter().filter_map(|u| u["email"].as_str()).collect();
    emails.sort_unstable();
    assert_eq!(
        emails,
        [
            "more0@example.com",
            "more1@example.com",
            "more2@example.com",
            "user@example.com"
        ]
    );
    assert_eq!(page["users"].as_array().expect("users"), &everyone[1..3], "paged");

    // The other service: its own empty world, and the first one's user as unknown as a made-up id.
    let (_, theirs) = call(&t, Method::GET, "/api/service/users", &other, None, None).await;
    assert_eq!(theirs["total"], 0, "{theirs}");
    let made_up = "usr_0000000000000000";
    for (method, path, body) in [
        (Method::GET, "/api/service/users/{}", None),
        (
            Method::PATCH,
            "/api/service/users/{}",
            Some(json!({ "name": "Mallory" })),
        ),
        (Method::DELETE, "/api/service/users/{}", None),
        (Method::GET, "/api/service/subscriptions/{}", None),
        (
            Method::PATCH,
            "/api/service/subscriptions/{}",
            Some(json!({ "status": "canceled" })),
        ),
        (Method::DELETE, "/api/service/subscriptions/{}", None),
    ] {
        let (status, answer) = call(
            &t,
            method.clone(),
            &path.replace("{}", &user_id),
            &other,
            None,
            body.clone(),
        )
        .await;
        let (missing_status, missing) =
            call(&t, method.clone(), &path.replace("{}", made_up), &other, None, body).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{method} {path}: {answer}");
        assert_eq!(
            refusal(status, &answer),
            refusal(missing_status, &missing),
            "{method} {path}"
        );
    }
    let (status, answer) = call(
        &t,
        Method::POST,
        "/api/service/subscriptions",
        &other,
        None,
        Some(json!({ "user_id": user_id, "plan_id": "pro" })),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");
    assert_eq!(answer["errors"][0]["field"], "user_id", "{answer}");
    let (status, answer) = call(
        &t,
        Method::POST,
        "/api/service/provider-tokens",
        &other,
        None,
        Some(json!({ "provider": "google", "user_id": user_id })),
    )
    .await;
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "another service's user gets no token: {answer}"
    );
    let (_, info) = call(&t, Method::GET, "/api/service/info", &other, None, None).await;
    assert_eq!(info["slug"], "other-app", "{info}");
    assert_eq!(info["organization"], "acme");
    // Nothing the other service did changed the first one's user.
    let (status, still) = call(
        &t,
        Method::GET,
        &format!("/api/service/users/{user_id}"),
        &main,
        None,
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(still["name"], Value::Null);
    let (_, kept) = call(
        &t,
        Method::GET,
        &format!("/api/service/subscriptions/{user_id}"),
        &main,
        None,
        None,
    )
    .await;
    assert_eq!(kept["status"], "active", "{kept}");

    // A service key cannot be pointed elsewhere, nor used as an account key.
    let (status, answer) = call(
        &t,
        Method::GET,
        "/api/service/users",
        &other,
        Some("acme/main-app"),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");
    let (status, _) = call(&t, Method::GET, "/v1/agents", &main, None, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = call(&t, Method::GET, "/api/organizations", &main, None, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    // An account credential acts for a service only when it names one of its own.
    let (status, answer) = call(&t, Method::GET, "/api/service/users", &t.key, None, None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");
    assert_eq!(answer["errors"][0]["field"], "X-Latchkey-Service", "{answer}");
    let (status, named) = call(
        &t,
        Method::GET,
        "/api/service/users",
        &t.key,
        Some("acme/main-app"),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{named}");
    assert_eq!(named["total"], 4);
    let (_, other_account_key) = t.mesh.create_account("Second account").await.expect("account");
    let (status, _) = call(
        &t,
        Method::GET,
        "/api/service/users",
        &other_account_key,
        Some("acme/main-app"),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "another account's service is not found");
    let (status, _) = call(
        &t,
        Method::GET,
        "/api/organizations/acme",
        &other_account_key,
        None,
        None,
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // Slugs are per account: the second account has an `acme` of its own, which sees nothing of the first.
    let theirs = service_with_key(&t, &other_account_key, "acme", "main-app", json!({})).await;
    let (_, foreign) = call(&t, Method::GET, "/api/service/users", &theirs, None, None).await;
    assert_eq!(foreign["total"], 0, "{foreign}");

    // getAnalytics: this service's events, not the other's.
    let (status, analytics) = call(&t, Method::GET, "/api/service/analytics", &main, None, None).await;
    assert_eq!(status, StatusCode::OK, "{analytics}");
    // Audit consumes the events from the bus: wait until it has them all.
    let analytics = read_until(
        Duration::from_secs(30),
        || async {
            call(&t, Method::GET, "/api/service/analytics", &main, None, None)
                .await
                .1
        },
        |body| body["events_by_type"]["user.created"] == 4 && body["events_by_type"]["subscription.created"] == 1,
    )
    .await;
    assert_eq!(analytics["events_by_type"]["user.created"], 4, "{analytics}");
    assert_eq!(analytics["events_by_type"]["subscription.created"], 1, "{analytics}");
    assert!(
        analytics["events_by_type"].get("organization.created").is_none(),
        "{analytics}"
    );
    let (_, theirs) = call(&t, Method::GET, "/api/service/analytics", &other, None, None).await;
    assert!(theirs["events_by_type"].get("user.created").is_none(), "{theirs}");

    // A read-only key reads and changes nothing.
    let read_only = created(
        &t,
        "/api/organizations/acme/services/main-app/api-keys",
        &t.key,
        json!({ "name": "reporting", "permissions": ["service:read"] }),
    )
    .await;
    assert_eq!(read_only["permissions"], json!(["service:read"]));
    let read_only = read_only["key"].as_str().expect("key");
    let (status, _) = call(&t, Method::GET, "/api/service/users", read_only, None, None).await;
    assert_eq!(status, StatusCode::OK);
    let (status, answer) = call(
        &t,
        Method::POST,
        "/api/service/users",
        read_only,
        None,
        Some(json!({ "email": "ro@example.com" })),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{answer}");

    // Keys are listed without their secrets; a deleted one stops at once.
    let (_, keys) = call(
        &t,
        Method::GET,
        "/api/organizations/acme/services/main-app/api-keys",
        &t.key,
        None,
        None,
    )
    .await;
    let listed = keys["api_keys"].as_array().expect("api_keys");
    assert_eq!(listed.len(), 2, "{keys}");
    assert!(!keys.to_string().contains(&main), "a listing never shows a secret");
    let main_key_id = listed[0]["id"].as_str().expect("id");
    let (status, _) = call(
        &t,
        Method::DELETE,
        &format!("/api/organizations/acme/services/main-app/api-keys/{main_key_id}"),
        &t.key,
        None,
        None,
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = call(&t, Method::GET, "/api/service/users", &main, None, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "a deleted key is refused at once");

    // The events reach the audit chain, which verifies, and the webhook.
    let has_type = |entries: &Vec<Value>, wanted: &str| entries.iter().any(|entry| entry["type"] == wanted);
    let entries = read_until(
        Duration::from_secs(30),
        || t.audit_entries(&t.key),
        |entries| has_type(entries, "service_key.deleted"),
    )
    .await;
    let types: Vec<&str> = entries.iter().filter_map(|e| e["type"].as_str()).collect();
    for wanted in [
        "organization.created",
        "service.created",
        "service_key.created",
        "user.created",
        "subscription.created",
        "service_key.deleted",
    ] {
        assert!(types.contains(&wanted), "{wanted} in {types:?}");
    }
    let (_, verified) = call(&t, Method::GET, "/v1/audit/verify", &t.key, None, None).await;
    assert_eq!(verified["valid"], true, "{verified}");
    let delivered = receiver.wait_for(5).await;
    let mut delivered_types: Vec<String> = delivered
        .iter()
        .filter_map(|d| serde_json::from_str::<Value>(d["body"].as_str()?).ok())
        .filter_map(|body| body["type"].as_str().map(str::to_owned))
        .collect();
    delivered_types.sort();
    assert_eq!(
        delivered_types.iter().filter(|t| *t == "user.created").count(),
        4,
        "{delivered_types:?}"
    );
    assert!(delivered_types.contains(&"subscription.created".to_owned()));
    assert!(delivered.iter().all(|d| d["verified"]["current"] == true));
    // The keys' secrets never reach a log line or a span.
    for (what, secret) in [("service key", main.as_str()), ("other service key", other.as_str())] {
        captured::assert_not_captured(what, secret);
    }
    t.stop().await;
}

#[tokio::test]
async fn a_service_key_sees_its_own_service_only_sqlite() {
    a_service_key_sees_its_own_service_only(Backend::Sqlite, Bus::Local).await;
}

#[tokio::test]
async fn a_service_key_sees_its_own_service_only_postgres_nats() {
    a_service_key_sees_its_own_service_only(Backend::Postgres, Bus::Nats).await;
}

/// The field a refusal names, asserting it is a 400 `VALIDATION_ERROR`.
fn field_of(status: StatusCode, body: &Value) -> String {
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["code"], "VALIDATION_ERROR", "{body}");
    body["errors"][0]["field"].as_str().unwrap_or_default().to_owned()
}

async fn bad_input_is_refused_naming_the_field_and_leaves_nothing_behind(backend: Backend, bus: Bus) {
    let t = TestMesh::start(backend, bus).await;
    let key = t.key.clone();
    for (body, field) in [
        (json!({ "slug": "", "name": "x" }), "slug"),
        (json!({ "slug": "-acme", "name": "x" }), "slug"),
        (json!({ "slug": "Acme", "name": "x" }), "slug"),
        (json!({ "slug": "acme*", "name": "x" }), "slug"),
        (json!({ "slug": "a".repeat(65), "name": "x" }), "slug"),
        (json!({ "slug": "acme", "name": "   " }), "name"),
        (json!({ "slug": "acme", "name": "n".repeat(129) }), "name"),
        (json!({ "slug": "acme", "name": "x", "plan": "free" }), ""),
    ] {
        let (status, answer) = call(&t, Method::POST, "/api/organizations", &key, None, Some(body.clone())).await;
        let named = field_of(status, &answer);
        if !field.is_empty() {
            assert_eq!(named, field, "{body}: {answer}");
        }
    }
    let (_, none) = call(&t, Method::GET, "/api/organizations", &key, None, None).await;
    assert_eq!(none, json!({ "organizations": [] }), "nothing half-written");
    created(
        &t,
        "/api/organizations",
        &key,
        json!({ "slug": &"a".repeat(64), "name": "n".repeat(128) }),
    )
    .await;
    created(
        &t,
        "/api/organizations",
        &key,
        json!({ "slug": "acme", "name": "Acme" }),
    )
    .await;
    let (status, answer) = call(
        &t,
        Method::POST,
        "/api/organizations",
        &key,
        None,
        Some(json!({ "slug": "acme", "name": "Again" })),
    )
    .await;
    assert_eq!(field_of(status, &answer), "slug", "a taken slug");

    let services = "/api/organizations/acme/services";
    for (body, field) in [
        (json!({ "slug": "app" }), "name"),
        (json!({ "slug": "app", "name": "App", "service_type": "robot" }), ""),
        (
            json!({ "slug": "app", "name": "App", "redirect_uris": ["javascript:alert(1)"] }),
            "redirect_uris[0]",
        ),
        (
            json!({ "slug": "app", "name": "App", "redirect_uris": ["http://evil.example/cb"] }),
            "redirect_uris[0]",
        ),
        (
            json!({ "slug": "app", "name": "App", "redirect_uris": ["https://a.example/cb#frag"] }),
            "redirect_uris[0]",
        ),
        (
            json!({ "slug": "app", "name": "App", "redirect_uris": ["https://a.example/cb", "https://a.example/cb"] }),
            "redirect_uris[1]",
        ),
        (
            json!({ "slug": "app", "name": "App", "allowed_providers": ["Google"] }),
            "allowed_providers[0]",
        ),
        (json!({ "slug": "app", "name": "App", "scopes": ["a b"] }), "scopes[0]"),
        (
            json!({ "slug": "app", "name": "App", "description": "d".repeat(1025) }),
            "description",
        ),
    ] {
        let (status, answer) = call(&t, Method::POST, services, &key, None, Some(body.clone())).await;
        let named = field_of(status, &answer);
        if !field.is_empty() {
            assert_eq!(named, field, "{body}: {answer}");
        }
    }
    let (status, _) = call(
        &t,
        Method::POST,
        "/api/organizations/nope/services",
        &key,
        None,
        Some(json!({ "slug": "app", "name": "App" })),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, listed) = call(&t, Method::GET, services, &key, None, None).await;
    assert_eq!(listed["services"], json!([]), "nothing half-written: {listed}");
    let service_key = service_with_key(
        &t,
        &key,
        "acme",
        "app",
        json!({ "redirect_uris": ["https://app.example/back"] }),
    )
    .await;
    let (status, answer) = call(
        &t,
        Method::POST,
        "/api/organizations/acme/services/app/api-keys",
        &key,
        None,
        Some(json!({ "name": "k", "permissions": ["service:admin"] })),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");
    let (status, _) = call(
        &t,
        Method::DELETE,
        "/api/organizations/acme/services/app/api-keys/key_0000000000000000",
        &key,
        None,
        None,
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "another kind's id names no service key");
    let (status, answer) = call(&t, Method::DELETE, "/api/organizations/acme", &key, None, None).await;
    assert_eq!(
        status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "an organization with services stays: {answer}"
    );

    for (body, field) in [
        (json!({}), ""),
        (json!({ "email": "" }), "email"),
        (json!({ "email": "no-at-sign" }), "email"),
        (json!({ "email": "a@b" }), "email"),
        (json!({ "email": "a b@example.com" }), "email"),
        (json!({ "email": format!("{}@example.com", "a".repeat(65)) }), "email"),
        (json!({ "email": "ok@example.com", "name": "n".repeat(129) }), "name"),
        (json!({ "email": "ok@example.com", "role": "admin" }), ""),
    ] {
        let (status, answer) = call(
            &t,
            Method::POST,
            "/api/service/users",
            &service_key,
            None,
            Some(body.clone()),
        )
        .await;
        let named = field_of(status, &answer);
        if !field.is_empty() {
            assert_eq!(named, field, "{body}: {answer}");
        }
    }
    let user = created(
        &t,
        "/api/service/users",
        &service_key,
        json!({ "email": "Jane@Example.COM", "name": "Jane" }),
    )
    .await;
    assert_eq!(user["email"], "Jane@example.com", "the domain is lowercased");
    let (status, answer) = call(
        &t,
        Method::POST,
        "/api/service/users",
        &service_key,
        None,
        Some(json!({ "email": "jane@example.com" })),
    )
    .await;
    assert_eq!(
        field_of(status, &answer),
        "email",
        "emails are unique in a service, whatever their case"
    );
    let user_id = user["id"].as_str().expect("id");
    for (query, field) in [
        ("limit=101", "limit"),
        ("limit=0", "limit"),
        ("offset=-1", "offset"),
        ("offset=1000000001", "offset"),
        ("limit=abc", "limit"),
        ("cursor=x", ""),
    ] {
        let (status, answer) = call(
            &t,
            Method::GET,
            &format!("/api/service/users?{query}"),
            &service_key,
            None,
            None,
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{query}: {answer}");
        if !field.is_empty() {
            assert!(answer.to_string().contains(field), "{query}: {answer}");
        }
    }
    for path in [
        "/api/service/users/*",
        "/api/service/users/usr_%25",
        "/api/service/users/agent_0000000000000000",
    ] {
        let (status, _) = call(&t, Method::GET, path, &service_key, None, None).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
    }
    for (body, field) in [
        (json!({ "user_id": user_id, "plan_id": "" }), "plan_id"),
        (json!({ "user_id": user_id, "plan_id": "pro plan" }), "plan_id"),
        (json!({ "user_id": user_id, "plan_id": "p".repeat(129) }), "plan_id"),
        (json!({ "user_id": user_id, "plan_id": "pro", "status": "paused" }), ""),
        (json!({ "user_id": "usr_*", "plan_id": "pro" }), "user_id"),
        (json!({ "user_id": "", "plan_id": "pro" }), "user_id"),
    ] {
        let (status, answer) = call(
            &t,
            Method::POST,
            "/api/service/subscriptions",
            &service_key,
            None,
            Some(body.clone()),
        )
        .await;
        let named = field_of(status, &answer);
        if !field.is_empty() {
            assert_eq!(named, field, "{body}: {answer}");
        }
    }
    let (_, subscriptions) = call(&t, Method::GET, "/api/service/subscriptions", &service_key, None, None).await;
    assert_eq!(
        subscriptions,
        json!({ "subscriptions": [], "total": 0 }),
        "nothing half-written"
    );
    created(
        &t,
        "/api/service/subscriptions",
        &service_key,
        json!({ "user_id": user_id, "plan_id": "p".repeat(128), "status": "trialing" }),
    )
    .await;
    let (status, answer) = call(
        &t,
        Method::POST,
        "/api/service/subscriptions",
        &service_key,
        None,
        Some(json!({ "user_id": user_id, "plan_id": "pro" })),
    )
    .await;
    assert_eq!(field_of(status, &answer), "user_id", "one subscription per user");
    let (status, canceled) = call(
        &t,
        Method::PATCH,
        &format!("/api/service/subscriptions/{user_id}"),
        &service_key,
        None,
        Some(json!({ "status": "canceled" })),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{canceled}");
    assert_eq!(canceled["status"], "canceled");

    for (body, field) in [
        (json!({ "redirect_uris": ["ftp://a.example/"] }), "redirect_uris[0]"),
        (json!({ "name": "" }), "name"),
        (json!({ "slug": "renamed" }), ""),
    ] {
        let (status, answer) = call(
            &t,
            Method::PATCH,
            "/api/service/info",
            &service_key,
            None,
            Some(body.clone()),
        )
        .await;
        let named = field_of(status, &answer);
        if !field.is_empty() {
            assert_eq!(named, field, "{body}: {answer}");
        }
    }
    let (status, info) = call(
        &t,
        Method::PATCH,
        "/api/service/info",
        &service_key,
        None,
        Some(json!({ "description": "Our app", "scopes": ["email"] })),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{info}");
    assert_eq!(
        info["redirect_uris"],
        json!(["https://app.example/back"]),
        "an absent list stays"
    );
    assert_eq!(info["scopes"], json!(["email"]));
    for (body, status_wanted) in [
        (
            json!({ "provider": "oidc", "user_id": user_id, "scopes": ["drive.readonly"] }),
            StatusCode::FORBIDDEN,
        ),
        (
            json!({ "provider": "oidc", "user_id": user_id, "redirect_uri": "https://evil.example/" }),
            StatusCode::BAD_REQUEST,
        ),
        (json!({ "provider": "oidc" }), StatusCode::BAD_REQUEST),
        (
            json!({ "provider": "oidc", "user_id": "usr_0000000000000000" }),
            StatusCode::NOT_FOUND,
        ),
    ] {
        let (status, answer) = call(
            &t,
            Method::POST,
            "/api/service/provider-tokens",
            &service_key,
            None,
            Some(body.clone()),
        )
        .await;
        assert_eq!(status, status_wanted, "{body}: {answer}");
    }

    // Deleting the service takes its users and keys with it.
    let (status, _) = call(
        &t,
        Method::DELETE,
        "/api/organizations/acme/services/app",
        &key,
        None,
        None,
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = call(&t, Method::GET, "/api/service/users", &service_key, None, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "its keys stopped with it");
    let (status, _) = call(&t, Method::DELETE, "/api/organizations/acme", &key, None, None).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "an empty organization can go");
    t.stop().await;
}

#[tokio::test]
async fn bad_input_is_refused_naming_the_field_and_leaves_nothing_behind_sqlite() {
    bad_input_is_refused_naming_the_field_and_leaves_nothing_behind(Backend::Sqlite, Bus::Local).await;
}

#[tokio::test]
async fn bad_input_is_refused_naming_the_field_and_leaves_nothing_behind_postgres_nats() {
    bad_input_is_refused_naming_the_field_and_leaves_nothing_behind(Backend::Postgres, Bus::Nats).await;
}

#[tokio::test]
async fn a_plan_limits_the_users_of_an_accounts_services_together() {
    let free = PlanLimits {
        service_users: Some(2),
        ..PlanLimits::default()
    };
    let plans = Plans::new(
        "free",
        [
            ("free".to_owned(), free),
            ("self-hosted".to_owned(), PlanLimits::default()),
        ]
        .into(),
    )
    .expect("plans");
    let t = TestMesh::start_with_settings(
        Backend::Sqlite,
        Bus::Local,
        ServiceSettings {
            plans,
            ..ServiceSettings::default()
        },
    )
    .await;
    let first = service_with_key(&t, &t.key, "acme", "one", json!({})).await;
    let second = service_with_key(&t, &t.key, "acme", "two", json!({})).await;
    created(&t, "/api/service/users", &first, json!({ "email": "a@example.com" })).await;
    created(&t, "/api/service/users", &second, json!({ "email": "b@example.com" })).await;
    let (status, problem) = call(
        &t,
        Method::POST,
        "/api/service/users",
        &first,
        None,
        Some(json!({ "email": "c@example.com" })),
    )
    .await;
    assert_eq!(status, StatusCode::PAYMENT_REQUIRED, "{problem}");
    assert_eq!(problem["code"], "PLAN_LIMIT");
    assert_eq!(problem["resource"], "service_users");
    assert_eq!(problem["limit"], 2);
    assert_eq!(problem["usage"], 2);
    let (_, usage) = call(&t, Method::GET, "/v1/usage", &t.key, None, None).await;
    assert_eq!(usage["usage"]["service_users"], 2, "{usage}");
    assert_eq!(usage["limits"]["service_users"], 2, "{usage}");
    t.stop().await;
}
