//! Console sessions as the gateway drives them (mesh-only gRPC to agent-token), on both backends:
//! signing in with an API key or a certificate JWT, resolving, signing out (and out everywhere),
//! every way a session ends (its credential deleted or revoked, idle, absolute expiry, the 51st of
//! an account), accounts never reaching each other's sessions, no door without the mesh
//! credential, the events in the audit chain, and the token in no answer, event or log.

use std::time::Duration;

use base64::Engine as _;
use latchkey::mesh::ServiceSettings;
use latchkey_agent_token::AgentTokenConfig;
use latchkey_proto::agent_token::v1::{
    self as pb, AuthenticateApiKeyRequest, CreateApiKeyRequest, CreateCertificateRequest, DeleteApiKeyRequest,
    EndConsoleSessionRequest, ResolveConsoleSessionRequest, RevokeCertificateRequest, StartConsoleSessionRequest,
    agent_token_service_client::AgentTokenServiceClient, certificate_service_client::CertificateServiceClient,
};
use latchkey_server::{MeshAuth, MeshChannel};
use latchkey_storage::Backend;
use latchkey_test_support::{captured, mesh::as_account};
use serde_json::{Value, json};
use tonic::{Code, Status};

use crate::support::{Bus, TestMesh, gateway_config};

type Client = AgentTokenServiceClient<MeshChannel>;

fn agent_token_url(t: &TestMesh) -> &str {
    t.mesh
        .urls
        .of(latchkey::cli::Service::AgentToken)
        .expect("agent-token's address")
}

/// agent-token as the gateway calls it: with the mesh credential.
fn client(t: &TestMesh) -> Client {
    AgentTokenServiceClient::new(latchkey_server::connect(agent_token_url(t), &t.mesh.context.mesh_auth).unwrap())
}

async fn start(client: &Client, credential: &str) -> Result<pb::StartedConsoleSession, Status> {
    let request = StartConsoleSessionRequest {
        credential: credential.to_owned(),
    };
    client
        .clone()
        .start_console_session(request)
        .await
        .map(tonic::Response::into_inner)
}

async fn started(client: &Client, credential: &str) -> (String, pb::ConsoleSession) {
    let started = start(client, credential).await.expect("a session starts");
    (started.token, started.session.expect("the session"))
}

async fn resolve(client: &Client, token: &str) -> Result<pb::ConsoleSession, Status> {
    let request = ResolveConsoleSessionRequest {
        token: token.to_owned(),
    };
    client
        .clone()
        .resolve_console_session(request)
        .await
        .map(tonic::Response::into_inner)
}

async fn end(client: &Client, token: &str, everywhere: bool) -> u32 {
    let request = EndConsoleSessionRequest {
        token: token.to_owned(),
        everywhere,
    };
    client
        .clone()
        .end_console_session(request)
        .await
        .expect("end answers")
        .into_inner()
        .ended
}

/// Asserts `answer` is UNAUTHENTICATED, as every bad credential's is, without quoting `secret`.
#[track_caller]
fn assert_refused<T: std::fmt::Debug>(answer: Result<T, Status>, secret: &str, why: &str) {
    let status = answer.expect_err(why);
    assert_eq!(status.code(), Code::Unauthenticated, "{why}: {status:?}");
    let shown = format!("{}{}", status.message(), String::from_utf8_lossy(status.details()));
    assert!(
        secret.len() < 12 || !shown.contains(secret),
        "{why}: the refusal quotes it: {shown}"
    );
}

/// The id of the API key `secret`, as agent-token knows it, and the plan it answers with.
async fn key_principal(client: &Client, secret: &str) -> pb::Principal {
    let request = AuthenticateApiKeyRequest {
        secret: secret.to_owned(),
    };
    client
        .clone()
        .authenticate_api_key(request)
        .await
        .expect("a valid key")
        .into_inner()
}

async fn create_key(client: &Client, account: &str, name: &str) -> pb::CreatedApiKey {
    let request = as_account(account, CreateApiKeyRequest { name: name.to_owned() });
    let created = client
        .clone()
        .create_api_key(request)
        .await
        .expect("create a key")
        .into_inner();
    created.created.expect("the key")
}

/// An EdDSA certificate of `account`, and a JWT it signs for this deployment (single use).
async fn certificate_and_jwt(t: &TestMesh, account: &str) -> (pb::Certificate, String) {
    let channel = latchkey_server::connect(agent_token_url(t), &t.mesh.context.mesh_auth).unwrap();
    let request = CreateCertificateRequest {
        name: "console".to_owned(),
        algorithm: "EdDSA".to_owned(),
        expires_at: "2030-01-01T00:00:00Z".to_owned(),
        metadata: Default::default(),
    };
    let created = CertificateServiceClient::new(channel)
        .create_certificate(as_account(account, request))
        .await
        .expect("create a certificate")
        .into_inner();
    let certificate = created.certificate.expect("the certificate");
    let body: String = created
        .private_key
        .lines()
        .filter(|line| !line.starts_with("-----"))
        .collect();
    let der = base64::engine::general_purpose::STANDARD
        .decode(body)
        .expect("PKCS#8 DER");
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::EdDSA);
    header.kid = Some(certificate.kid.clone());
    let now = chrono::Utc::now().timestamp();
    let claims = json!({"iss": account, "sub": account, "aud": t.base, "iat": now, "exp": now + 300,
                        "jti": uuid::Uuid::now_v7().to_string()});
    let jwt = jsonwebtoken::encode(&header, &claims, &jsonwebtoken::EncodingKey::from_ed_der(&der)).expect("sign");
    (certificate, jwt)
}

async fn revoke_certificate(t: &TestMesh, account: &str, id: &str) {
    let channel = latchkey_server::connect(agent_token_url(t), &t.mesh.context.mesh_auth).unwrap();
    CertificateServiceClient::new(channel)
        .revoke_certificate(as_account(account, RevokeCertificateRequest { id: id.to_owned() }))
        .await
        .expect("revoke the certificate");
}

/// `message` with an account API key as its bearer credential, as a client outside the mesh sends it.
fn with_bearer<T>(message: T, key: &str) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    let value = format!("Bearer {key}").parse().expect("ASCII");
    request.metadata_mut().insert("authorization", value);
    request
}

async fn lifecycle(backend: Backend, bus: Bus) {
    captured::install();
    let t = TestMesh::start(backend, bus).await;
    let sessions = client(&t);
    let account = t.account_id.clone();
    let bootstrap = key_principal(&sessions, &t.key).await;
    let mut tokens = Vec::new();

    // Signing in with an API key: the token once, the session naming the account, key and plan.
    let (first, first_session) = started(&sessions, &t.key).await;
    assert!(
        first.starts_with("lk_cs_") && first.len() == "lk_cs_".len() + 43,
        "{first}"
    );
    assert!(first_session.session_id.starts_with("cses_"), "{first_session:?}");
    assert_eq!(
        (&first_session.account_id, &first_session.actor_id),
        (&account, &bootstrap.api_key_id)
    );
    assert_eq!(first_session.plan, bootstrap.plan);
    assert_eq!(
        first_session.idle_expires_at_ms - first_session.created_at_ms,
        1_800_000
    );
    assert_eq!(first_session.expires_at_ms - first_session.created_at_ms, 43_200_000);
    assert_eq!(resolve(&sessions, &first).await.expect("it resolves"), first_session);
    tokens.push(first.clone());

    // Bad credentials start nothing, all refused alike.
    let unknown = format!("lk_live_{}", "A".repeat(32));
    for bad in [
        unknown.as_str(),
        "",
        "not a credential",
        "eyJ.eyJ.sig",
        &t.key[..t.key.len() - 1],
    ] {
        assert_refused(start(&sessions, bad).await, bad, "a bad credential");
    }
    // Malformed and unknown tokens are refused; signing out with one ends nothing.
    let forged = format!("lk_cs_{}", "A".repeat(43));
    for bad in [
        forged.clone(),
        format!("{first} "),
        format!(" {first}"),
        first.replace("lk_cs_", "lk_xx_"),
        format!("{first}{}", "A".repeat(300)),
        t.key.clone(),
        String::new(),
    ] {
        assert_refused(
            resolve(&sessions, &bad).await,
            &first,
            "a token that is not a session's",
        );
        assert_eq!(end(&sessions, &bad, true).await, 0, "{bad:?}");
    }
    assert!(resolve(&sessions, &first).await.is_ok(), "probing ended nothing");

    // A session ends with the API key that started it; a deleted key starts none.
    let console_key = create_key(&sessions, &account, "console").await;
    let (by_key, session) = started(&sessions, &console_key.secret).await;
    let key_id = console_key.key.expect("the key").id;
    assert_eq!(session.actor_id, key_id);
    tokens.push(by_key.clone());
    let delete = as_account(&account, DeleteApiKeyRequest { id: key_id });
    sessions.clone().delete_api_key(delete).await.expect("delete the key");
    assert_refused(resolve(&sessions, &by_key).await, &by_key, "its key was deleted");
    assert_refused(
        start(&sessions, &console_key.secret).await,
        &console_key.secret,
        "a deleted key",
    );
    assert!(
        resolve(&sessions, &first).await.is_ok(),
        "another key's session lives on"
    );

    // A certificate JWT signs in once; the session ends when the certificate is revoked.
    let (certificate, jwt) = certificate_and_jwt(&t, &account).await;
    let (by_certificate, session) = started(&sessions, &jwt).await;
    assert_eq!((&session.account_id, &session.actor_id), (&account, &certificate.id));
    assert_eq!(resolve(&sessions, &by_certificate).await.expect("it resolves"), session);
    assert_refused(start(&sessions, &jwt).await, &jwt, "a JWT is used once");
    tokens.push(by_certificate.clone());
    revoke_certificate(&t, &account, &certificate.id).await;
    assert_refused(resolve(&sessions, &by_certificate).await, &by_certificate, "revoked");

    // Signing out ends the one session, once.
    let (second, second_session) = started(&sessions, &t.key).await;
    tokens.push(second.clone());
    assert_eq!(end(&sessions, &second, false).await, 1);
    assert_refused(resolve(&sessions, &second).await, &second, "signed out");
    assert_eq!(end(&sessions, &second, false).await, 0, "idempotent");
    assert!(resolve(&sessions, &first).await.is_ok(), "only the one ended");

    // Another account: its sessions are its own.
    let (other_account, other_key) = t.mesh.create_account("Other").await.unwrap();
    let (other, other_session) = started(&sessions, &other_key).await;
    tokens.push(other.clone());
    let resolved = resolve(&sessions, &other).await.expect("it resolves");
    assert_eq!(resolved.account_id, other_account);
    assert_eq!(resolved.actor_id, key_principal(&sessions, &other_key).await.api_key_id);

    // Signing out everywhere ends every live session of the account, and no other account's.
    let (third, third_session) = started(&sessions, &t.key).await;
    let (fourth, _) = started(&sessions, &t.key).await;
    tokens.extend([third.clone(), fourth.clone()]);
    assert_eq!(end(&sessions, &third, true).await, 3, "first, third and fourth");
    for token in [&first, &third, &fourth] {
        assert_refused(resolve(&sessions, token).await, token, "signed out everywhere");
    }
    let untouched = resolve(&sessions, &other).await.expect("untouched");
    assert_eq!(
        (untouched.session_id, untouched.account_id),
        (resolved.session_id, resolved.account_id)
    );

    // The 51st session of an account ends its oldest, and only that.
    let mut others = vec![other.clone()];
    for _ in 1..latchkey_agent_token::MAX_SESSIONS_PER_ACCOUNT {
        others.push(started(&sessions, &other_key).await.0);
    }
    let (mine, _) = started(&sessions, &t.key).await;
    assert!(resolve(&sessions, &others[0]).await.is_ok(), "fifty are allowed");
    let (fifty_first, _) = started(&sessions, &other_key).await;
    assert_refused(resolve(&sessions, &others[0]).await, &others[0], "the oldest made room");
    for token in [&others[1], &others[49], &fifty_first, &mine] {
        assert!(resolve(&sessions, token).await.is_ok(), "the others live on");
    }
    tokens.push(mine);

    // No door without the mesh credential, not even with an account key.
    let channel = tonic::transport::Endpoint::from_shared(agent_token_url(&t).to_owned())
        .unwrap()
        .connect_lazy();
    let mut stranger = AgentTokenServiceClient::new(channel);
    let wrong_mesh = latchkey_server::connect(agent_token_url(&t), &MeshAuth::new("not-the-mesh-token")).unwrap();
    let mut impostor = AgentTokenServiceClient::new(wrong_mesh);
    let start_request = || StartConsoleSessionRequest {
        credential: t.key.clone(),
    };
    let start_with_key = with_bearer(start_request(), &t.key);
    assert_refused(stranger.start_console_session(start_with_key).await, &t.key, "no mesh");
    assert_refused(
        impostor.start_console_session(start_request()).await,
        &t.key,
        "a wrong mesh token",
    );
    // A live session of the other account (its first made room for the 51st).
    let live = others[1].clone();
    let resolve_request = || ResolveConsoleSessionRequest { token: live.clone() };
    let resolve_with_key = with_bearer(resolve_request(), &t.key);
    assert_refused(
        stranger.resolve_console_session(resolve_with_key).await,
        &live,
        "no mesh",
    );
    assert_refused(
        impostor.resolve_console_session(resolve_request()).await,
        &live,
        "a wrong mesh token",
    );
    let end_request = || EndConsoleSessionRequest {
        token: live.clone(),
        everywhere: true,
    };
    let end_with_key = with_bearer(end_request(), &t.key);
    assert_refused(stranger.end_console_session(end_with_key).await, &live, "no mesh");
    assert_refused(
        impostor.end_console_session(end_request()).await,
        &live,
        "a wrong mesh token",
    );
    for token in [&live, &others[2]] {
        assert!(resolve(&sessions, token).await.is_ok(), "nothing ended");
    }

    // The audit chain: who signed in, and who signed out of what; never a token.
    let started_entries = t.audit_entries_of(&t.key, "console.session_started", 7).await;
    assert_eq!(started_entries.len(), 7, "{started_entries:?}");
    assert_eq!(
        started_entries[0]["data"],
        json!({"session_id": first_session.session_id, "actor_id": bootstrap.api_key_id})
    );
    let actors: Vec<&Value> = started_entries.iter().map(|entry| &entry["data"]["actor_id"]).collect();
    assert!(actors.contains(&&json!(certificate.id)), "{actors:?}");
    let ended = t.audit_entries_of(&t.key, "console.session_ended", 2).await;
    assert_eq!(ended.len(), 2, "{ended:?}");
    assert_eq!(
        ended[0]["data"],
        json!({"session_ids": [second_session.session_id], "reason": "signed_out"})
    );
    assert_eq!(ended[0]["actor"], bootstrap.api_key_id.as_str());
    assert_eq!(ended[1]["data"]["reason"], "signed_out_everywhere");
    let ended_ids = ended[1]["data"]["session_ids"].as_array().expect("ids").clone();
    assert_eq!(ended_ids.len(), 3, "{ended_ids:?}");
    assert_eq!(
        ended_ids[0],
        third_session.session_id.as_str(),
        "the session signed out of comes first"
    );
    assert!(
        !ended_ids.contains(&json!(other_session.session_id)),
        "never another account's"
    );

    // The token is a secret: in no audit entry, log line or span.
    let audit = serde_json::to_string(&t.audit_entries(&t.key).await).unwrap();
    let logs = captured::logs();
    assert!(!logs.is_empty(), "the capture saw the flow");
    for token in &tokens {
        assert!(!audit.contains(token.as_str()), "a token in the audit chain");
        captured::assert_not_captured("a console session token", token);
    }
    captured::assert_not_captured("a certificate JWT", jwt.rsplit('.').next().unwrap());
    t.stop().await;
}

#[tokio::test]
async fn console_sessions_on_sqlite_with_the_in_process_bus() {
    lifecycle(Backend::Sqlite, Bus::Local).await;
}

#[tokio::test]
async fn console_sessions_on_postgres_with_nats() {
    lifecycle(Backend::Postgres, Bus::Nats).await;
}

/// A mesh whose console sessions live `idle` seconds unused and `max` seconds at most.
async fn mesh_with_lifetimes(backend: Backend, bus: Bus, idle: u64, max: u64) -> TestMesh {
    let settings = ServiceSettings {
        gateway: gateway_config(),
        agent_token: AgentTokenConfig {
            console_session_idle_secs: idle,
            console_session_max_secs: max,
            ..AgentTokenConfig::default()
        },
        ..ServiceSettings::default()
    };
    TestMesh::start_with_settings(backend, bus, settings).await
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// Polls the clock until `unix_ms` has passed.
async fn until_past(unix_ms: i64) {
    while now_ms() <= unix_ms {
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// Idle and absolute expiry, with lifetimes of seconds: a session left alone ends after the idle
/// timeout; one in use lives past it, until its absolute expiry. Neither emits anything.
async fn expiry(backend: Backend, bus: Bus) {
    let t = mesh_with_lifetimes(backend, bus, 3, 6).await;
    let sessions = client(&t);
    let (idle, idle_session) = started(&sessions, &t.key).await;
    let (busy, busy_session) = started(&sessions, &t.key).await;
    assert_eq!(idle_session.idle_expires_at_ms - idle_session.created_at_ms, 3_000);
    assert_eq!(busy_session.expires_at_ms - busy_session.created_at_ms, 6_000);

    // The busy one is used every quarter second until its absolute expiry; the idle one is looked
    // at once its idle timeout has passed.
    let mut idle_checked = false;
    let mut latest_idle_expiry = busy_session.idle_expires_at_ms;
    while now_ms() < busy_session.expires_at_ms - 300 {
        let answer = resolve(&sessions, &busy).await;
        if now_ms() < busy_session.expires_at_ms - 300 {
            let session = answer.expect("a session in use lives until its absolute expiry");
            latest_idle_expiry = latest_idle_expiry.max(session.idle_expires_at_ms);
        }
        if !idle_checked && now_ms() > idle_session.idle_expires_at_ms {
            assert_refused(resolve(&sessions, &idle).await, &idle, "idle past the timeout");
            assert_eq!(
                end(&sessions, &idle, false).await,
                0,
                "an idle session has ended already"
            );
            idle_checked = true;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert!(idle_checked, "the loop outlived the idle timeout");
    assert!(
        latest_idle_expiry > busy_session.idle_expires_at_ms + 1_000,
        "use moved the idle expiry on"
    );
    until_past(busy_session.expires_at_ms).await;
    assert_refused(resolve(&sessions, &busy).await, &busy, "past its absolute expiry");
    assert_eq!(end(&sessions, &busy, true).await, 0, "an expired session ends nothing");

    // Only signing out is announced: one session_ended, for the one signed out of.
    let (last, last_session) = started(&sessions, &t.key).await;
    assert_eq!(end(&sessions, &last, false).await, 1);
    let ended = t.audit_entries_of(&t.key, "console.session_ended", 1).await;
    assert_eq!(ended.len(), 1, "expiry emitted something: {ended:?}");
    assert_eq!(ended[0]["data"]["session_ids"], json!([last_session.session_id]));
    t.stop().await;
}

#[tokio::test]
async fn console_session_expiry_on_sqlite() {
    expiry(Backend::Sqlite, Bus::Local).await;
}

#[tokio::test]
async fn console_session_expiry_on_postgres() {
    expiry(Backend::Postgres, Bus::Local).await;
}
