//! Verifying and revoking agent tokens: offline verdicts with machine-readable reasons, batches,
//! revocation seen by every verifier instance, and by one started after the revocation.

use std::time::{Duration, Instant};

use latchkey_agent_token::AgentToken;
use latchkey_proto::agent_token::v1::{
    TokenCheck, VerifyTokensRequest, agent_token_service_client::AgentTokenServiceClient,
};
use latchkey_storage::{Backend, Db};
use latchkey_test_support::eventually;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use crate::support::{Bus, TestMesh};

async fn post(t: &TestMesh, path: &str, key: Option<&str>, body: Value) -> (StatusCode, Value) {
    let request = match key {
        Some(key) => t.as_key(Method::POST, path, key),
        None => t.http.post(t.url(path)),
    };
    let response = request.json(&body).send().await.unwrap();
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// Another agent-token instance on the same database and bus, as a second verifier.
async fn second_verifier(
    t: &TestMesh,
    shutdown: &CancellationToken,
) -> AgentTokenServiceClient<tonic::transport::Channel> {
    let db = Db::connect(&t.mesh.context.database.url_for(latchkey::cli::Service::AgentToken))
        .await
        .unwrap();
    let service = AgentToken::open(db, t.mesh.context.mesh_auth.clone(), t.system_secrets())
        .await
        .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(service.run(listener, t.mesh.context.bus.clone(), shutdown.clone()));
    let channel = tonic::transport::Endpoint::from_shared(address).unwrap().connect_lazy();
    AgentTokenServiceClient::new(channel)
}

/// Another gateway of the mesh, verifying tokens in its own process: answers its base URL.
async fn second_gateway(t: &TestMesh) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    latchkey::mesh::spawn_service(
        latchkey::cli::Service::Gateway,
        listener,
        &t.mesh.context,
        t.mesh.shutdown.clone(),
    )
    .await
    .unwrap();
    base
}

/// The verdict of the gateway at `base` on `token`: "valid" or the reason; `None` while it cannot
/// answer (503 until its verifier has caught up).
async fn reason_via(t: &TestMesh, base: &str, token: &str) -> Option<String> {
    let response = t
        .http
        .post(format!("{base}/v1/tokens/verify"))
        .json(&json!({ "token": token }))
        .send()
        .await
        .ok()?;
    if response.status() != StatusCode::OK {
        return None;
    }
    let verdict: Value = response.json().await.ok()?;
    Some(if verdict["valid"] == true {
        "valid".to_owned()
    } else {
        verdict["reason"].as_str()?.to_owned()
    })
}

async fn reason_at(client: &mut AgentTokenServiceClient<tonic::transport::Channel>, token: &str) -> Option<String> {
    let request = VerifyTokensRequest {
        checks: vec![TokenCheck {
            token: token.to_owned(),
            required_scope: vec![],
            audience: String::new(),
        }],
    };
    let verdict = client.verify_tokens(request).await.ok()?.into_inner().verdicts.pop()?;
    Some(if verdict.valid {
        "valid".to_owned()
    } else {
        verdict.reason
    })
}

async fn verify_and_revoke(backend: Backend, bus: Bus) {
    let t = TestMesh::start(backend, bus).await;
    let key = t.key.clone();
    let (_, agent) = post(&t, "/v1/agents", Some(&key), json!({"name": "a", "owner": "o"})).await;
    let agent_id = agent["id"].as_str().unwrap().to_owned();
    let issue = |scope: Value, target: &str| json!({"agent_id": agent_id, "scope": scope, "target_service": target});
    let (_, issued) = post(
        &t,
        "/v1/tokens",
        Some(&key),
        issue(json!(["secrets.read", "db.*"]), "billing"),
    )
    .await;
    let token = issued["token"].as_str().unwrap().to_owned();

    // Verdicts, needing no authentication.
    let verify = |body: Value| post(&t, "/v1/tokens/verify", None, body);
    let (status, ok) = verify(json!({"token": token, "required_scope": ["db.write"], "audience": "billing"})).await;
    assert_eq!(status, StatusCode::OK, "{ok}");
    assert_eq!(
        (ok["valid"].as_bool(), ok["agent_id"].as_str()),
        (Some(true), Some(agent_id.as_str()))
    );
    assert_eq!(ok["claims"]["jti"], issued["token_id"]);
    let mut tampered = token.clone();
    tampered.replace_range(tampered.len() - 6..tampered.len() - 2, "AAAA");
    for (body, reason) in [
        (
            json!({"token": token, "required_scope": ["secrets.write"]}),
            "insufficient_scope",
        ),
        (json!({"token": token, "audience": "payroll"}), "wrong_audience"),
        (json!({"token": tampered}), "bad_signature"),
        (json!({"token": "not.a.token"}), "malformed"),
    ] {
        let (status, verdict) = verify(body).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(
            (verdict["valid"].as_bool(), verdict["reason"].as_str()),
            (Some(false), Some(reason))
        );
    }
    let (status, problem) = verify(json!({"required_scope": []})).await;
    assert_eq!(
        (status, problem["errors"][0]["field"].as_str()),
        (StatusCode::BAD_REQUEST, Some("token"))
    );

    // Batches: plain tokens or checks, at most 100.
    let (status, batch) = post(
        &t,
        "/v1/tokens/verify/batch",
        None,
        json!({"tokens": [token, {"token": token, "required_scope": ["nope"]}, "garbage"]}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{batch}");
    let reasons: Vec<Value> = batch["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["reason"].clone())
        .collect();
    assert_eq!(reasons, [Value::Null, json!("insufficient_scope"), json!("malformed")]);
    let (status, _) = post(
        &t,
        "/v1/tokens/verify/batch",
        None,
        json!({"tokens": vec![token.clone(); 101]}),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    // Delegation: narrower for a sub-agent, never wider.
    let (_, helper) = post(&t, "/v1/agents", Some(&key), json!({"name": "helper", "owner": "o"})).await;
    let helper_id = helper["id"].as_str().unwrap().to_owned();
    let delegate = |body: Value| post(&t, "/v1/tokens/delegate", None, body);
    let (status, delegated) =
        delegate(json!({"token": token, "scope": ["db.read"], "ttl": 60, "sub_agent": helper_id})).await;
    assert_eq!(status, StatusCode::CREATED, "{delegated}");
    let delegated_token = delegated["token"].as_str().unwrap().to_owned();
    let (_, verdict) =
        verify(json!({"token": delegated_token, "required_scope": ["db.read"], "audience": "billing"})).await;
    assert_eq!(verdict["valid"], true, "{verdict}");
    assert_eq!(verdict["claims"]["sub"], helper_id.as_str());
    assert_eq!(verdict["claims"]["act"]["sub"], agent_id.as_str());
    for (body, field) in [
        (
            json!({"token": token, "scope": ["secrets.write"], "sub_agent": helper_id}),
            "scope",
        ),
        (
            json!({"token": token, "scope": ["db.read"], "ttl": 100000, "sub_agent": helper_id}),
            "ttl",
        ),
        (
            json!({"token": token, "scope": ["db.read"], "sub_agent": helper_id, "target_service": "payroll"}),
            "audience",
        ),
    ] {
        let (status, problem) = delegate(body.clone()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}: {problem}");
        assert_eq!(problem["errors"][0]["field"], field, "{problem}");
    }
    let (status, _) = delegate(json!({"token": tampered, "scope": ["db.read"], "sub_agent": helper_id})).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    // Revocation: another account cannot; the owner can, and a second verifier follows.
    let shutdown = CancellationToken::new();
    let mut second = second_verifier(&t, &shutdown).await;
    let other_gateway = second_gateway(&t).await;
    assert!(
        eventually(Duration::from_secs(30), || {
            let mut second = second.clone();
            let (t, token, other_gateway) = (&t, token.clone(), other_gateway.clone());
            async move {
                reason_at(&mut second, &token).await.as_deref() == Some("valid")
                    && reason_via(t, &other_gateway, &token).await.as_deref() == Some("valid")
            }
        })
        .await,
        "the second verifier or gateway never became ready"
    );
    let (_, other_key) = t.mesh.create_account("Other").await.unwrap();
    let (status, _) = post(&t, "/v1/tokens/revoke", Some(&other_key), json!({"token": token})).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let revoked_at = Instant::now();
    let (status, revoked) = post(&t, "/v1/tokens/revoke", Some(&key), json!({"token": token})).await;
    assert_eq!(
        (status, revoked["token_id"].clone()),
        (StatusCode::OK, issued["token_id"].clone())
    );
    let (_, verdict) = verify(json!({"token": token})).await;
    assert_eq!(
        verdict["reason"], "token_revoked",
        "the instance that revoked rejects at once"
    );
    let seen = eventually(Duration::from_secs(10), || {
        let mut second = second.clone();
        let token = token.clone();
        async move { reason_at(&mut second, &token).await.as_deref() == Some("token_revoked") }
    })
    .await;
    println!(
        "revocation reached the second verifier after {:?}",
        revoked_at.elapsed()
    );
    assert!(seen, "the second verifier still accepts a revoked token");
    let seen = eventually(Duration::from_secs(10), || async {
        reason_via(&t, &other_gateway, &token).await.as_deref() == Some("token_revoked")
    })
    .await;
    println!("revocation reached the other gateway after {:?}", revoked_at.elapsed());
    assert!(seen, "the other gateway still accepts a revoked token");

    // Revoking the agent revokes its other tokens; a verifier started afterwards knows both.
    let (_, other) = post(&t, "/v1/tokens", Some(&key), issue(json!(["db.read"]), "any")).await;
    let other_token = other["token"].as_str().unwrap().to_owned();
    post(&t, &format!("/v1/agents/{agent_id}/revoke"), Some(&key), json!({})).await;
    let fresh_shutdown = CancellationToken::new();
    let mut fresh = second_verifier(&t, &fresh_shutdown).await;
    let knows = eventually(Duration::from_secs(30), || {
        let mut fresh = fresh.clone();
        let (token, other_token) = (token.clone(), other_token.clone());
        async move {
            reason_at(&mut fresh, &token).await.as_deref() == Some("token_revoked")
                && reason_at(&mut fresh, &other_token).await.as_deref() == Some("agent_revoked")
        }
    })
    .await;
    assert!(knows, "a verifier started after the revocations must still reject");
    let fresh_gateway = second_gateway(&t).await;
    let knows = eventually(Duration::from_secs(30), || async {
        reason_via(&t, &fresh_gateway, &token).await.as_deref() == Some("token_revoked")
            && reason_via(&t, &fresh_gateway, &other_token).await.as_deref() == Some("agent_revoked")
    })
    .await;
    assert!(knows, "a gateway started after the revocations must still reject");
    let _ = reason_at(&mut fresh, &token).await;
    let _ = reason_at(&mut second, &token).await;
    shutdown.cancel();
    fresh_shutdown.cancel();
    t.stop().await;
}

#[tokio::test]
async fn tokens_verify_offline_and_revocations_reach_every_verifier_on_sqlite() {
    verify_and_revoke(Backend::Sqlite, Bus::Local).await;
}

#[tokio::test]
async fn tokens_verify_offline_and_revocations_reach_every_verifier_on_postgres_with_nats() {
    verify_and_revoke(Backend::Postgres, Bus::Nats).await;
}
