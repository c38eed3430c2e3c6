//! Verified domains through the gateway, against a real DNS server (dnsmasq on loopback): claim a
//! domain, check it before and after publishing its TXT record, list, read and delete it; the
//! verified domain flags the agents owned on it and the webhook endpoints on it; another account
//! sees nothing of it; every step reaches the audit chain.

use std::time::Duration;

use latchkey::mesh::ServiceSettings;
use latchkey_agent_token::DomainsConfig;
use latchkey_storage::Backend;
use latchkey_test_support::{DnsServer, TxtRecord, read_until};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::support::{Bus, TestMesh, gateway_config};

async fn call(t: &TestMesh, method: Method, path: &str, key: &str, body: Option<Value>) -> (StatusCode, Value) {
    let mut request = t.as_key(method, path, key);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.expect("request");
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// A mesh whose agent-token asks `dns`.
pub async fn mesh_with_dns(backend: Backend, bus: Bus, dns: &DnsServer) -> TestMesh {
    let settings = ServiceSettings {
        gateway: gateway_config(),
        domains: DomainsConfig {
            nameservers: dns.address(),
            ..DomainsConfig::default()
        },
        ..ServiceSettings::default()
    };
    TestMesh::start_with_settings(backend, bus, settings).await
}

/// The record proving a claim as the API answered it.
pub fn published(domain: &Value) -> TxtRecord {
    let record = &domain["txt_record"];
    TxtRecord::new(
        record["name"].as_str().expect("txt_record.name"),
        record["value"].as_str().expect("txt_record.value"),
    )
}

async fn domains_through_the_gateway(backend: Backend, bus: Bus) {
    let mut dns = DnsServer::start(&[]).await;
    let t = mesh_with_dns(backend, bus, &dns).await;
    let key = t.key.clone();

    let (status, claim) = call(
        &t,
        Method::POST,
        "/v1/domains",
        &key,
        Some(json!({"domain": "Example.Test."})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{claim}");
    let id = claim["id"].as_str().expect("id").to_owned();
    assert!(id.starts_with("dom_"), "{id}");
    assert_eq!(claim["domain"], "example.test");
    assert_eq!(claim["status"], "pending");
    assert_eq!(claim["txt_record"]["name"], "_latchkey-challenge.example.test");
    assert_eq!(claim["txt_record"]["type"], "TXT");
    assert!(claim["txt_record"]["value"].as_str().is_some_and(|v| v.len() > 32));
    assert!(claim["created_at"].is_string());
    for absent in ["verified_at", "last_checked_at", "reason"] {
        assert!(claim[absent].is_null(), "{absent}: {claim}");
    }

    // Checked before the record is published: still pending, and why.
    let verify = format!("/v1/domains/{id}/verify");
    let (status, checked) = call(&t, Method::POST, &verify, &key, None).await;
    assert_eq!(status, StatusCode::OK, "{checked}");
    assert_eq!(
        (checked["status"].as_str(), checked["reason"].as_str()),
        (Some("pending"), Some("no_record"))
    );
    assert!(checked["last_checked_at"].is_string() && checked["verified_at"].is_null());

    dns.serve(&[TxtRecord::new(
        "_latchkey-challenge.example.test",
        "latchkey-domain-verification=not-ours",
    )])
    .await;
    let (_, checked) = call(&t, Method::POST, &verify, &key, None).await;
    assert_eq!(checked["reason"], "value_mismatch", "{checked}");

    dns.serve(&[published(&claim)]).await;
    let (status, verified) = call(&t, Method::POST, &verify, &key, None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(verified["status"], "verified", "{verified}");
    assert!(verified["verified_at"].is_string() && verified["reason"].is_null());

    let (status, read) = call(&t, Method::GET, &format!("/v1/domains/{id}"), &key, None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(read, verified);
    let (status, listed) = call(&t, Method::GET, "/v1/domains", &key, None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(listed, json!({"data": [verified.clone()]}));
    let (_, pending) = call(&t, Method::GET, "/v1/domains?status=pending", &key, None).await;
    assert_eq!(pending, json!({"data": []}));
    let (status, bad_filter) = call(&t, Method::GET, "/v1/domains?status=nope", &key, None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{bad_filter}");

    // The verified domain vouches for an agent owned on it.
    let (_, agent) = call(
        &t,
        Method::POST,
        "/v1/agents",
        &key,
        Some(json!({"name": "bot", "owner": "bots@example.test"})),
    )
    .await;
    assert_eq!(agent["owner_verified"], true, "{agent}");
    let (_, other_agent) = call(
        &t,
        Method::POST,
        "/v1/agents",
        &key,
        Some(json!({"name": "bot", "owner": "engineering"})),
    )
    .await;
    assert_eq!(other_agent["owner_verified"], false);

    // ... and for webhook endpoints on it; the domain events can be subscribed to.
    let mut hooks = Vec::new();
    for (url, expected) in [
        ("https://hooks.example.test/latchkey", true),
        ("https://EXAMPLE.test./in", true),
        ("https://example.test.evil.net/in", false),
        ("https://badexample.test/in", false),
    ] {
        let (status, hook) = call(
            &t,
            Method::POST,
            "/v1/webhooks",
            &key,
            Some(json!({"url": url, "events": ["domain.*", "domain.verified"]})),
        )
        .await;
        assert_eq!(status, StatusCode::CREATED, "{hook}");
        assert_eq!(hook["verified_domain"], expected, "{url}: {hook}");
        hooks.push((hook["id"].as_str().expect("id").to_owned(), expected));
    }
    let (_, listed_hooks) = call(&t, Method::GET, "/v1/webhooks", &key, None).await;
    let flags: Vec<&Value> = listed_hooks["data"]
        .as_array()
        .expect("data")
        .iter()
        .map(|hook| &hook["verified_domain"])
        .collect();
    assert_eq!(flags, [&json!(true), &json!(true), &json!(false), &json!(false)]);

    // Another account: the claim is unknown to it, exactly as an unknown or malformed id is.
    let (_, other_key) = t.mesh.create_account("Other").await.expect("another account");
    let (status, unknown) = call(&t, Method::GET, "/v1/domains/dom_0000000000000000", &other_key, None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    for path in [
        format!("/v1/domains/{id}"),
        "/v1/domains/dom_*".to_owned(),
        "/v1/domains/agent_abc".to_owned(),
    ] {
        for method in [Method::GET, Method::DELETE] {
            let (status, body) = call(&t, method.clone(), &path, &other_key, None).await;
            assert_eq!(status, StatusCode::NOT_FOUND, "{method} {path}");
            assert_eq!(
                (&body["code"], &body["detail"]),
                (&unknown["code"], &unknown["detail"]),
                "{path}"
            );
        }
        let (status, _) = call(&t, Method::POST, &format!("{path}/verify"), &other_key, None).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "verify {path}");
    }
    let (_, others) = call(&t, Method::GET, "/v1/domains", &other_key, None).await;
    assert_eq!(others, json!({"data": []}));
    let (_, others_agent) = call(
        &t,
        Method::POST,
        "/v1/agents",
        &other_key,
        Some(json!({"name": "bot", "owner": "bots@example.test"})),
    )
    .await;
    assert_eq!(others_agent["owner_verified"], false, "not verified in that account");

    let (status, _) = call(&t, Method::DELETE, &format!("/v1/domains/{id}"), &key, None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = call(&t, Method::GET, &format!("/v1/domains/{id}"), &key, None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, agent_after) = call(
        &t,
        Method::GET,
        &format!("/v1/agents/{}", agent["id"].as_str().unwrap()),
        &key,
        None,
    )
    .await;
    assert_eq!(
        agent_after["owner_verified"], false,
        "a deleted domain vouches for nothing"
    );

    // Every change is in the audit chain, in order.
    let wanted = ["domain.created", "domain.verified", "domain.deleted"];
    let entries = read_until(
        Duration::from_secs(30),
        || t.audit_entries(&key),
        |entries| {
            wanted
                .iter()
                .all(|wanted| entries.iter().any(|entry| entry["type"] == *wanted))
        },
    )
    .await;
    let types: Vec<&str> = entries
        .iter()
        .filter_map(|entry| entry["type"].as_str())
        .filter(|kind| kind.starts_with("domain."))
        .collect();
    assert_eq!(types, wanted, "{entries:?}");
    let created = entries.iter().find(|entry| entry["type"] == "domain.created").unwrap();
    assert_eq!(created["subject"], id.as_str());
    assert_eq!(created["data"]["domain"], "example.test");
    t.stop().await;
}

#[tokio::test]
async fn domains_through_the_gateway_on_sqlite() {
    domains_through_the_gateway(Backend::Sqlite, Bus::Local).await;
}

#[tokio::test]
async fn domains_through_the_gateway_on_postgres_with_nats() {
    domains_through_the_gateway(Backend::Postgres, Bus::Nats).await;
}

#[tokio::test]
async fn bad_domains_are_refused_with_problem_documents() {
    let dns = DnsServer::start(&[]).await;
    let t = mesh_with_dns(Backend::Sqlite, Bus::Local, &dns).await;
    let key = t.key.clone();
    let label63 = "a".repeat(63);
    for bad in [
        json!({"domain": ""}),
        json!({"domain": "*.example.com"}),
        json!({"domain": "192.0.2.1"}),
        json!({"domain": "[2001:db8::1]"}),
        json!({"domain": "localhost"}),
        json!({"domain": "app.localhost"}),
        json!({"domain": "example"}),
        json!({"domain": "-a.example.com"}),
        json!({"domain": "a..example.com"}),
        json!({"domain": "bücher.example"}),
        json!({"domain": format!("{}.com", "a".repeat(64))}),
        json!({"domain": format!("{label63}.{label63}.{label63}.{}", "b".repeat(62))}),
        json!({"domain": 7}),
        json!({"domain": null}),
        json!({}),
        json!({"domain": "example.com", "extra": true}),
    ] {
        let response = t
            .as_key(Method::POST, "/v1/domains", &key)
            .json(&bad)
            .send()
            .await
            .expect("request");
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{bad}");
        assert_eq!(response.headers()["content-type"], "application/problem+json", "{bad}");
        let problem: Value = response.json().await.expect("json");
        assert_eq!(problem["code"], "VALIDATION_ERROR", "{bad}: {problem}");
    }
    let (status, _) = call(
        &t,
        Method::POST,
        "/v1/domains",
        &key,
        Some(json!({"domain": "dup.example.com"})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, problem) = call(
        &t,
        Method::POST,
        "/v1/domains",
        &key,
        Some(json!({"domain": "DUP.example.com."})),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    assert_eq!(problem["code"], "UNPROCESSABLE");
    assert_eq!(problem["errors"][0]["field"], "domain");
    let (_, listed) = call(&t, Method::GET, "/v1/domains", &key, None).await;
    assert_eq!(
        listed["data"].as_array().map(Vec::len),
        Some(1),
        "nothing bad was stored"
    );
    t.stop().await;
}
