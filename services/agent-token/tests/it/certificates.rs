//! Certificates over gRPC, on each backend: the seed's lifecycle (create, list, get, active,
//! public key, revoke, delete) with its events; every field's checks; one account never reaching
//! another's certificates; and JWTs signed with a certificate authenticating once each, and every
//! way of getting one wrong refused alike.

use std::time::Duration;

use latchkey_events::EventFilter;
use latchkey_proto::agent_token::v1::{
    self as pb, AuthenticateCertificateJwtRequest, CreateAccountRequest,
    certificate_service_client::CertificateServiceClient,
};
use latchkey_server::MeshChannel;
use latchkey_storage::Backend;
use latchkey_test_support::{BACKENDS, eventually, mesh::as_account};
use serde_json::{Value, json};
use tonic::{Code, Status};

use crate::{
    jws::{SignAs, sign},
    support::{PUBLIC_URL, TestAgentToken},
};

/// A new account of the service's, by its id.
pub async fn new_account(service: &TestAgentToken, name: &str) -> String {
    let created = service
        .client
        .clone()
        .create_account(tonic::Request::new(CreateAccountRequest {
            name: name.to_owned(),
            key_name: "first".to_owned(),
        }))
        .await
        .expect("create an account")
        .into_inner();
    created.account_id
}

fn seed_request() -> pb::CreateCertificateRequest {
    pb::CreateCertificateRequest {
        name: "Production API Key".to_owned(),
        algorithm: "RS256".to_owned(),
        expires_at: "2027-03-01T00:00:00.000Z".to_owned(),
        metadata: [("environment", "production"), ("team", "backend")]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect(),
    }
}

/// Far enough ahead for every run of these tests (the seed's own 2027 date will pass).
const LATER: &str = "2030-01-01T00:00:00Z";

pub async fn create(service: &TestAgentToken, account: &str, algorithm: &str) -> pb::CreatedCertificate {
    let request = pb::CreateCertificateRequest {
        name: format!("{algorithm} key"),
        algorithm: algorithm.to_owned(),
        expires_at: LATER.to_owned(),
        metadata: Default::default(),
    };
    service
        .certificates
        .clone()
        .create_certificate(as_account(account, request))
        .await
        .expect("create a certificate")
        .into_inner()
}

fn now_secs() -> i64 {
    chrono::Utc::now().timestamp()
}

/// Claims a certificate of `account` may sign: RFC 7523's, for this deployment.
pub fn claims(account: &str) -> Value {
    let now = now_secs();
    json!({
        "iss": account,
        "sub": account,
        "aud": PUBLIC_URL,
        "iat": now,
        "exp": now + 300,
        "jti": uuid::Uuid::now_v7().to_string(),
    })
}

/// A JWT signed as `created` signs, with `claims`.
pub fn jwt(created: &pb::CreatedCertificate, claims: &Value) -> String {
    let certificate = created.certificate.as_ref().expect("the certificate");
    let header = json!({"alg": certificate.algorithm, "kid": certificate.kid, "typ": "JWT"});
    sign(
        &created.private_key,
        SignAs::certificate(&certificate.algorithm),
        &header,
        claims,
    )
}

async fn authenticate(service: &TestAgentToken, token: &str) -> Result<pb::CertificatePrincipal, Status> {
    service
        .certificates
        .clone()
        .authenticate_certificate_jwt(tonic::Request::new(AuthenticateCertificateJwtRequest {
            token: token.to_owned(),
        }))
        .await
        .map(tonic::Response::into_inner)
}

/// Asserts `token` is refused as every bad credential is: UNAUTHENTICATED, never quoting it.
async fn assert_refused(service: &TestAgentToken, token: &str, why: &str) {
    let status = authenticate(service, token).await.expect_err(why);
    assert_eq!(status.code(), Code::Unauthenticated, "{why}: {status:?}");
    let shown = format!("{}{}", status.message(), String::from_utf8_lossy(status.details()));
    for part in token.split('.').filter(|part| part.len() > 8) {
        assert!(!shown.contains(part), "{why}: the refusal quotes the token: {shown}");
    }
}

fn certificate(created: &pb::CreatedCertificate) -> &pb::Certificate {
    created.certificate.as_ref().expect("the certificate")
}

async fn lifecycle(backend: Backend) {
    let service = TestAgentToken::start(backend).await;
    let account = service.account_id.clone();
    let mut client = service.certificates.clone();
    let events = service
        .bus
        .replay(EventFilter::event_type("certificate.*"), chrono::DateTime::UNIX_EPOCH)
        .await
        .expect("follow the events");

    let first = client
        .create_certificate(as_account(&account, seed_request()))
        .await
        .expect("the seed's request")
        .into_inner();
    let cert = certificate(&first).clone();
    assert!(cert.id.starts_with("cert_") && cert.kid.starts_with("kid_"), "{cert:?}");
    assert_eq!(cert.account_id, account);
    assert_eq!((cert.algorithm.as_str(), cert.status.as_str()), ("RS256", "active"));
    assert_eq!(cert.expires_at_ms, 1_803_859_200_000, "2027-03-01T00:00:00Z");
    assert_eq!(cert.metadata.get("team").map(String::as_str), Some("backend"));
    assert!(cert.public_key.starts_with("-----BEGIN PUBLIC KEY-----\n"));
    assert!(first.private_key.starts_with("-----BEGIN PRIVATE KEY-----\n"));
    assert!(first.private_key.ends_with("-----END PRIVATE KEY-----"));
    assert!(
        !format!("{first:?}").contains("PRIVATE KEY"),
        "the private key never prints"
    );

    let second = create(&service, &account, "EdDSA").await;
    let newest = certificate(&second).clone();
    let listed = client
        .list_certificates(as_account(&account, pb::ListCertificatesRequest {}))
        .await
        .expect("list")
        .into_inner()
        .certificates;
    let ids: Vec<&str> = listed.iter().map(|c| c.id.as_str()).collect();
    assert_eq!(ids, [newest.id.as_str(), cert.id.as_str()], "newest first");

    let got = client
        .get_certificate(as_account(&account, pb::GetCertificateRequest { id: cert.id.clone() }))
        .await
        .expect("get")
        .into_inner();
    assert_eq!(got, cert);
    let active = |client: &mut CertificateServiceClient<MeshChannel>| {
        let request = as_account(&account, pb::GetActiveCertificateRequest {});
        let mut client = client.clone();
        async move { client.get_active_certificate(request).await }
    };
    assert_eq!(active(&mut client).await.expect("active").into_inner().id, newest.id);

    let public = client
        .get_public_key(tonic::Request::new(pb::GetPublicKeyRequest { kid: cert.kid.clone() }))
        .await
        .expect("the public key")
        .into_inner();
    assert_eq!(
        (
            public.kid.as_str(),
            public.public_key.as_str(),
            public.algorithm.as_str()
        ),
        (cert.kid.as_str(), cert.public_key.as_str(), "RS256")
    );
    let published = jwks(&service, &account).await;
    assert_eq!(published["keys"].as_array().map(Vec::len), Some(2), "{published}");
    assert_eq!(published["keys"][0]["kid"], newest.kid.as_str());
    assert_eq!(published["keys"][0]["kty"], "OKP");
    assert_eq!(published["keys"][1]["kty"], "RSA");
    assert_eq!(published["keys"][1]["alg"], "RS256");
    assert_eq!(published["keys"][1]["use"], "sig");
    assert!(published["keys"][1]["d"].is_null(), "never a private member");

    // Revoked: no longer published, no longer active; revoking again changes nothing.
    let revoke = |id: &str| as_account(&account, pb::RevokeCertificateRequest { id: id.to_owned() });
    let revoked = client
        .revoke_certificate(revoke(&cert.id))
        .await
        .expect("revoke")
        .into_inner();
    assert_eq!(revoked.status, "revoked");
    assert!(revoked.updated_at_ms >= cert.updated_at_ms);
    let again = client
        .revoke_certificate(revoke(&cert.id))
        .await
        .expect("revoke again")
        .into_inner();
    assert_eq!(again, revoked, "idempotent: the same answer, the same updatedAt");
    let gone = client
        .get_public_key(tonic::Request::new(pb::GetPublicKeyRequest { kid: cert.kid.clone() }))
        .await
        .expect_err("a revoked certificate's key is not published");
    assert_eq!(gone.code(), Code::NotFound);
    assert_eq!(jwks(&service, &account).await["keys"].as_array().map(Vec::len), Some(1));

    // Delete: an active one is refused (400), a revoked one goes.
    let delete = |id: &str| as_account(&account, pb::DeleteCertificateRequest { id: id.to_owned() });
    let refused = client.delete_certificate(delete(&newest.id)).await.expect_err("active");
    assert_eq!(refused.code(), Code::InvalidArgument);
    assert!(refused.message().contains("revoke"), "{refused:?}");
    client
        .delete_certificate(delete(&cert.id))
        .await
        .expect("delete the revoked one");
    let missing = client
        .get_certificate(as_account(&account, pb::GetCertificateRequest { id: cert.id.clone() }))
        .await
        .expect_err("deleted");
    assert_eq!(missing.code(), Code::NotFound);
    let deleted_again = client.delete_certificate(delete(&cert.id)).await.expect_err("deleted");
    assert_eq!(deleted_again.code(), Code::NotFound);

    // The newest is revoked too: no active certificate is left.
    client.revoke_certificate(revoke(&newest.id)).await.expect("revoke");
    let none = active(&mut client).await.expect_err("none active");
    assert_eq!(none.code(), Code::NotFound);

    let seen = announced(events, 5).await;
    assert_eq!(
        seen.iter().map(|(kind, _)| kind.as_str()).collect::<Vec<_>>(),
        [
            "certificate.created",
            "certificate.created",
            "certificate.revoked",
            "certificate.deleted",
            "certificate.revoked"
        ]
    );
    for (_, data) in &seen {
        let text = data.to_string();
        assert!(!text.contains("PRIVATE") && !text.contains("PUBLIC KEY"), "{text}");
        assert!(
            data["certificate_id"]
                .as_str()
                .is_some_and(|id| id.starts_with("cert_")),
            "{text}"
        );
    }
    assert_eq!(seen[0].1["metadata"]["environment"], "production");
}

/// The first `count` events of a subscription, as (type, data).
async fn announced(mut events: latchkey_events::Subscription, count: usize) -> Vec<(String, Value)> {
    let mut seen = Vec::new();
    while seen.len() < count {
        let delivery = tokio::time::timeout(Duration::from_secs(20), events.next())
            .await
            .expect("the events arrive")
            .expect("the subscription goes on")
            .expect("an event");
        seen.push((delivery.envelope.event_type.clone(), delivery.envelope.data.clone()));
    }
    seen
}

async fn jwks(service: &TestAgentToken, account: &str) -> Value {
    let answer = service
        .certificates
        .clone()
        .get_certificate_jwks(as_account(account, pb::GetCertificateJwksRequest {}))
        .await
        .expect("the JWKS")
        .into_inner();
    serde_json::from_str(&answer.jwks_json).expect("JSON")
}

#[tokio::test]
async fn the_seeds_lifecycle_on_each_backend() {
    for backend in BACKENDS {
        lifecycle(backend).await;
    }
}

/// The field errors of a refused creation.
async fn field_errors(service: &TestAgentToken, request: pb::CreateCertificateRequest) -> Vec<String> {
    let status = service
        .certificates
        .clone()
        .create_certificate(as_account(&service.account_id, request))
        .await
        .expect_err("refused");
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    let error: Value = serde_json::from_slice(status.details()).expect("an error document");
    assert_eq!(error["code"], "VALIDATION_ERROR");
    error["errors"]
        .as_array()
        .expect("field errors")
        .iter()
        .map(|e| e["field"].as_str().unwrap_or_default().to_owned())
        .collect()
}

#[tokio::test]
async fn each_field_at_fault_is_named() {
    let service = TestAgentToken::start(Backend::Sqlite).await;
    let with = |change: &dyn Fn(&mut pb::CreateCertificateRequest)| {
        let mut request = seed_request();
        request.expires_at = LATER.to_owned();
        change(&mut request);
        request
    };
    let cases: Vec<(pb::CreateCertificateRequest, &[&str])> = vec![
        (with(&|r| r.name = String::new()), &["name"]),
        (with(&|r| r.name = "x".repeat(101)), &["name"]),
        (with(&|r| r.name = "tab\there".to_owned()), &["name"]),
        (with(&|r| r.algorithm = "HS256".to_owned()), &["algorithm"]),
        (with(&|r| r.algorithm = "none".to_owned()), &["algorithm"]),
        (
            with(&|r| r.expires_at = "2020-01-01T00:00:00Z".to_owned()),
            &["expiresAt"],
        ),
        (
            with(&|r| r.expires_at = "2099-01-01T00:00:00Z".to_owned()),
            &["expiresAt"],
        ),
        (with(&|r| r.expires_at = "next year".to_owned()), &["expiresAt"]),
        (
            with(&|r| r.metadata = (0..21).map(|i| (format!("k{i}"), String::new())).collect()),
            &["metadata"],
        ),
        (
            with(&|r| {
                r.metadata.insert("team".to_owned(), "v".repeat(501));
            }),
            &["metadata.team"],
        ),
        (
            with(&|r| {
                r.name = " ".to_owned();
                r.algorithm = "RS1024".to_owned();
                r.expires_at = "yesterday".to_owned();
            }),
            &["name", "algorithm", "expiresAt"],
        ),
    ];
    for (request, expected) in cases {
        assert_eq!(field_errors(&service, request.clone()).await, expected, "{request:?}");
    }
    // At the limits: accepted.
    let at_limits = with(&|r| {
        r.name = "n".repeat(100);
        r.algorithm = "ES256".to_owned();
        r.metadata = (0..20).map(|i| (format!("{i:0>64}"), "v".repeat(500))).collect();
    });
    service
        .certificates
        .clone()
        .create_certificate(as_account(&service.account_id, at_limits))
        .await
        .expect("every field at its limit");
    let listed = service
        .certificates
        .clone()
        .list_certificates(as_account(&service.account_id, pb::ListCertificatesRequest {}))
        .await
        .expect("list")
        .into_inner()
        .certificates;
    assert_eq!(listed.len(), 1, "nothing refused was stored");
}

#[tokio::test]
async fn an_account_holds_at_most_a_hundred_certificates() {
    let service = TestAgentToken::start(Backend::Sqlite).await;
    for _ in 0..100 {
        create(&service, &service.account_id, "EdDSA").await;
    }
    let refused = service
        .certificates
        .clone()
        .create_certificate(as_account(&service.account_id, seed_request()))
        .await
        .expect_err("the 101st");
    assert_eq!(refused.code(), Code::InvalidArgument);
    let error: Value = serde_json::from_slice(refused.details()).expect("an error document");
    assert_eq!(error["code"], "UNPROCESSABLE");
}

/// What every refusal of an id must look like: the unknown id's answer, to the byte.
fn answer(status: Status) -> (Code, String, Vec<u8>) {
    (status.code(), status.message().to_owned(), status.details().to_vec())
}

#[tokio::test]
async fn another_account_reaches_none_of_its_certificates() {
    let service = TestAgentToken::start(Backend::Sqlite).await;
    let a = service.account_id.clone();
    let b = new_account(&service, "Other").await;
    let mine = create(&service, &a, "RS256").await;
    let id = certificate(&mine).id.clone();
    let mut client = service.certificates.clone();

    let get = |account: &str, id: &str| as_account(account, pb::GetCertificateRequest { id: id.to_owned() });
    let unknown = answer(
        client
            .get_certificate(get(&b, "cert_0000000000000000"))
            .await
            .expect_err("unknown"),
    );
    assert_eq!(unknown.0, Code::NotFound);
    for other in [
        id.as_str(),
        "cert_*",
        "cert_>",
        "cert_a.b",
        "CERT_ABC",
        "kid_abc",
        "key_abc",
        &"c".repeat(200),
    ] {
        let status = client.get_certificate(get(&b, other)).await.expect_err("not B's");
        assert_eq!(answer(status), unknown, "{other}");
    }
    let revoke = client
        .revoke_certificate(as_account(&b, pb::RevokeCertificateRequest { id: id.clone() }))
        .await
        .expect_err("not B's");
    assert_eq!(answer(revoke), unknown);
    let delete = client
        .delete_certificate(as_account(&b, pb::DeleteCertificateRequest { id: id.clone() }))
        .await
        .expect_err("not B's");
    assert_eq!(answer(delete), unknown);
    let listed = client
        .list_certificates(as_account(&b, pb::ListCertificatesRequest {}))
        .await
        .expect("B's list")
        .into_inner();
    assert!(listed.certificates.is_empty());
    assert_eq!(jwks(&service, &b).await, json!({"keys": []}));
    assert_eq!(
        client
            .get_certificate(get(&a, &id))
            .await
            .expect("A's still")
            .into_inner()
            .status,
        "active"
    );

    // B's own certificate cannot speak for A: iss and sub must be the certificate's account.
    let theirs = create(&service, &b, "ES256").await;
    let mut as_a = claims(&a);
    assert_refused(&service, &jwt(&theirs, &as_a), "B's certificate claiming to be A").await;
    as_a["sub"] = json!(b);
    assert_refused(&service, &jwt(&theirs, &as_a), "iss A, sub B").await;
    let principal = authenticate(&service, &jwt(&theirs, &claims(&b)))
        .await
        .expect("B as B");
    assert_eq!(principal.account_id, b);
}

async fn every_algorithm_authenticates_once(backend: Backend) {
    let service = TestAgentToken::start(backend).await;
    let account = service.account_id.clone();
    for algorithm in ["RS256", "RS384", "RS512", "ES256", "EdDSA"] {
        let created = create(&service, &account, algorithm).await;
        let token = jwt(&created, &claims(&account));
        let principal = authenticate(&service, &token).await.expect(algorithm);
        assert_eq!(principal.account_id, account);
        assert_eq!(principal.certificate_id, certificate(&created).id);
        assert_refused(&service, &token, "the same jti again: a replay").await;
    }
}

#[tokio::test]
async fn every_algorithm_authenticates_once_on_each_backend() {
    for backend in BACKENDS {
        every_algorithm_authenticates_once(backend).await;
    }
}

/// Many callers at the same moment share the transaction that records their `jti`s (a group
/// commit): still each JWT is accepted once, however many copies of it arrive together.
async fn a_burst_of_jwts_and_their_replays_authenticates_each_once(backend: Backend) {
    let service = TestAgentToken::start(backend).await;
    let account = service.account_id.clone();
    let created = create(&service, &account, "EdDSA").await;
    let tokens: Vec<String> = (0..40).map(|_| jwt(&created, &claims(&account))).collect();
    let sent: Vec<&String> = tokens.iter().chain(&tokens).chain(&tokens).collect();
    let answers = futures::future::join_all(sent.iter().map(|token| authenticate(&service, token))).await;
    for token in &tokens {
        let accepted = sent
            .iter()
            .zip(&answers)
            .filter(|(sent, answer)| *sent == &token && answer.is_ok())
            .count();
        assert_eq!(accepted, 1, "each JWT once, its two copies refused ({backend:?})");
    }
    for answer in answers.iter().filter_map(|answer| answer.as_ref().err()) {
        assert_eq!(answer.code(), Code::Unauthenticated, "{answer:?}");
    }
}

#[tokio::test]
async fn a_burst_of_jwts_and_their_replays_authenticates_each_once_on_each_backend() {
    for backend in BACKENDS {
        a_burst_of_jwts_and_their_replays_authenticates_each_once(backend).await;
    }
}

async fn every_bad_jwt_is_refused(backend: Backend) {
    let service = TestAgentToken::start(backend).await;
    let account = service.account_id.clone();
    let created = create(&service, &account, "RS256").await;
    let cert = certificate(&created).clone();
    let key = created.private_key.as_str();
    let header = |alg: &str| json!({"alg": alg, "kid": cert.kid, "typ": "JWT"});
    let now = now_secs();
    let with = |change: &dyn Fn(&mut Value)| {
        let mut claims = claims(&account);
        change(&mut claims);
        claims
    };
    let other = create(&service, &account, "RS256").await;

    let cases: Vec<(&str, String)> = vec![
        ("garbage", "not.a.jwt".to_owned()),
        ("two parts", "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0".to_owned()),
        (
            "no kid",
            sign(key, SignAs::Rs256, &json!({"alg": "RS256"}), &claims(&account)),
        ),
        (
            "unknown kid",
            sign(
                key,
                SignAs::Rs256,
                &json!({"alg": "RS256", "kid": "kid_0000000000000000"}),
                &claims(&account),
            ),
        ),
        (
            "malformed kid",
            sign(
                key,
                SignAs::Rs256,
                &json!({"alg": "RS256", "kid": "kid_*"}),
                &claims(&account),
            ),
        ),
        (
            "another alg than the certificate's",
            sign(key, SignAs::Rs512, &header("RS512"), &claims(&account)),
        ),
        (
            "alg none",
            sign(key, SignAs::Nothing, &header("none"), &claims(&account)),
        ),
        (
            "HS256 keyed with the public key",
            sign(&cert.public_key, SignAs::Hs256, &header("HS256"), &claims(&account)),
        ),
        (
            "the RS256 header, no signature",
            sign(key, SignAs::Nothing, &header("RS256"), &claims(&account)),
        ),
        (
            "signed by another certificate's key",
            sign(&other.private_key, SignAs::Rs256, &header("RS256"), &claims(&account)),
        ),
        (
            "expired",
            sign(
                key,
                SignAs::Rs256,
                &header("RS256"),
                &with(&|c| {
                    c["iat"] = json!(now - 600);
                    c["exp"] = json!(now - 120);
                }),
            ),
        ),
        (
            "no exp",
            sign(
                key,
                SignAs::Rs256,
                &header("RS256"),
                &with(&|c| {
                    c.as_object_mut().map(|c| c.remove("exp"));
                }),
            ),
        ),
        (
            "exp more than an hour after iat",
            sign(
                key,
                SignAs::Rs256,
                &header("RS256"),
                &with(&|c| {
                    c["iat"] = json!(now);
                    c["exp"] = json!(now + 3601);
                }),
            ),
        ),
        (
            "exp more than an hour away, no iat",
            sign(
                key,
                SignAs::Rs256,
                &header("RS256"),
                &with(&|c| {
                    c.as_object_mut().map(|c| c.remove("iat"));
                    c["exp"] = json!(now + 3700);
                }),
            ),
        ),
        (
            "issued in the future",
            sign(
                key,
                SignAs::Rs256,
                &header("RS256"),
                &with(&|c| {
                    c["iat"] = json!(now + 600);
                    c["exp"] = json!(now + 900);
                }),
            ),
        ),
        (
            "not yet valid",
            sign(
                key,
                SignAs::Rs256,
                &header("RS256"),
                &with(&|c| c["nbf"] = json!(now + 600)),
            ),
        ),
        (
            "a float exp",
            sign(
                key,
                SignAs::Rs256,
                &header("RS256"),
                &with(&|c| c["exp"] = json!(now as f64 + 0.5)),
            ),
        ),
        (
            "another audience",
            sign(
                key,
                SignAs::Rs256,
                &header("RS256"),
                &with(&|c| c["aud"] = json!("https://elsewhere.test")),
            ),
        ),
        (
            "no audience",
            sign(
                key,
                SignAs::Rs256,
                &header("RS256"),
                &with(&|c| {
                    c.as_object_mut().map(|c| c.remove("aud"));
                }),
            ),
        ),
        (
            "another issuer",
            sign(
                key,
                SignAs::Rs256,
                &header("RS256"),
                &with(&|c| c["iss"] = json!("acct_0000000000000000")),
            ),
        ),
        (
            "another subject",
            sign(
                key,
                SignAs::Rs256,
                &header("RS256"),
                &with(&|c| c["sub"] = json!("acct_0000000000000000")),
            ),
        ),
        (
            "no jti",
            sign(
                key,
                SignAs::Rs256,
                &header("RS256"),
                &with(&|c| {
                    c.as_object_mut().map(|c| c.remove("jti"));
                }),
            ),
        ),
        (
            "an empty jti",
            sign(key, SignAs::Rs256, &header("RS256"), &with(&|c| c["jti"] = json!(""))),
        ),
        (
            "a jti of 257 characters",
            sign(
                key,
                SignAs::Rs256,
                &header("RS256"),
                &with(&|c| c["jti"] = json!("j".repeat(257))),
            ),
        ),
        (
            "a numeric jti",
            sign(key, SignAs::Rs256, &header("RS256"), &with(&|c| c["jti"] = json!(42))),
        ),
        (
            "over 8 KiB",
            sign(
                key,
                SignAs::Rs256,
                &header("RS256"),
                &with(&|c| c["pad"] = json!("p".repeat(9000))),
            ),
        ),
    ];
    for (why, token) in &cases {
        assert_refused(&service, token, why).await;
    }
    // The same claims, done right, pass: the refusals above were for what each case changed.
    let fine = sign(
        key,
        SignAs::Rs256,
        &header("RS256"),
        &with(&|c| c["jti"] = json!("j".repeat(256))),
    );
    authenticate(&service, &fine).await.expect("a jti of 256 characters");
    let audience_list = sign(
        key,
        SignAs::Rs256,
        &header("RS256"),
        &with(&|c| c["aud"] = json!(["https://elsewhere.test", PUBLIC_URL])),
    );
    authenticate(&service, &audience_list)
        .await
        .expect("an aud list naming this deployment");

    // Revoked: a JWT it signed before is refused from the revocation on.
    let signed_before = jwt(&created, &claims(&account));
    service
        .certificates
        .clone()
        .revoke_certificate(as_account(
            &account,
            pb::RevokeCertificateRequest { id: cert.id.clone() },
        ))
        .await
        .expect("revoke");
    assert_refused(&service, &signed_before, "a revoked certificate").await;
}

#[tokio::test]
async fn every_bad_jwt_is_refused_on_each_backend() {
    for backend in BACKENDS {
        every_bad_jwt_is_refused(backend).await;
    }
}

#[tokio::test]
async fn an_expired_certificate_stops_at_its_expiry() {
    let service = TestAgentToken::start(Backend::Sqlite).await;
    let account = service.account_id.clone();
    let soon = chrono::Utc::now() + chrono::Duration::seconds(3);
    let request = pb::CreateCertificateRequest {
        name: "short-lived".to_owned(),
        algorithm: "ES256".to_owned(),
        expires_at: soon.to_rfc3339(),
        metadata: Default::default(),
    };
    let created = service
        .certificates
        .clone()
        .create_certificate(as_account(&account, request))
        .await
        .expect("create")
        .into_inner();
    let kid = certificate(&created).kid.clone();
    // Past its expiry: every JWT refused, its key unpublished, no active certificate.
    let expired = eventually(Duration::from_secs(20), || {
        let token = jwt(&created, &claims(&account));
        let service = &service;
        async move { authenticate(service, &token).await.is_err() }
    })
    .await;
    assert!(expired, "refused once expired");
    assert!(chrono::Utc::now() >= soon, "refused only from its expiry");
    let public = service
        .certificates
        .clone()
        .get_public_key(tonic::Request::new(pb::GetPublicKeyRequest { kid }))
        .await
        .expect_err("not published once expired");
    assert_eq!(public.code(), Code::NotFound);
    let active = service
        .certificates
        .clone()
        .get_active_certificate(as_account(&account, pb::GetActiveCertificateRequest {}))
        .await
        .expect_err("none active");
    assert_eq!(active.code(), Code::NotFound);
}

/// A client calling agent-token directly (no mesh credential) with `authorization: Bearer <JWT>`.
fn direct(
    url: &str,
    token: &str,
) -> (
    CertificateServiceClient<tonic::transport::Channel>,
    tonic::metadata::MetadataValue<tonic::metadata::Ascii>,
) {
    let channel = tonic::transport::Channel::from_shared(url.to_owned())
        .expect("a URL")
        .connect_lazy();
    let value = format!("Bearer {token}").parse().expect("ASCII");
    (CertificateServiceClient::new(channel), value)
}

#[tokio::test]
async fn a_certificate_jwt_is_a_credential_of_direct_grpc_calls_too() {
    let service = TestAgentToken::start(Backend::Sqlite).await;
    let account = service.account_id.clone();
    let created = create(&service, &account, "EdDSA").await;
    let token = jwt(&created, &claims(&account));
    let (mut client, bearer) = direct(&service.url, &token);
    let call = || {
        let mut request = tonic::Request::new(pb::ListCertificatesRequest {});
        request.metadata_mut().insert("authorization", bearer.clone());
        request
    };
    let listed = client
        .list_certificates(call())
        .await
        .expect("the JWT authenticates")
        .into_inner();
    assert_eq!(listed.certificates.len(), 1);
    let replayed = client.list_certificates(call()).await.expect_err("single use");
    assert_eq!(replayed.code(), Code::Unauthenticated);
    // Mesh-only methods stay mesh-only, whatever the credential.
    let fresh = jwt(&created, &claims(&account));
    let mut request = tonic::Request::new(AuthenticateCertificateJwtRequest { token: fresh.clone() });
    request
        .metadata_mut()
        .insert("authorization", format!("Bearer {fresh}").parse().expect("ASCII"));
    let refused = client
        .authenticate_certificate_jwt(request)
        .await
        .expect_err("mesh only");
    assert_eq!(refused.code(), Code::Unauthenticated);
}

/// The pruning the task `certificate-jti-prune` runs every minute, on a service of the test's own
/// database: rows whose JWT is past its exp and leeway go, the others stay (a second use of those
/// must still find them).
async fn used_jtis_are_forgotten_once_their_jwt_expired(backend: Backend) {
    use latchkey_storage::{Db, sqlx};
    use latchkey_test_support::{TestDatabase, mesh::TestVault};

    let mesh = latchkey_server::MeshAuth::new("prune-test-token");
    let shutdown = tokio_util::sync::CancellationToken::new();
    let vault = TestVault::start(&mesh, &shutdown).await;
    let database = TestDatabase::new(backend).await;
    let db = Db::connect(database.url()).await.expect("open the database");
    let service = latchkey_agent_token::AgentToken::open(db.clone(), mesh.clone(), vault.system_secrets(&mesh))
        .await
        .expect("open the service");
    for (certificate, jti, expires_at) in [
        ("cert_a", "spent", 1_000),
        ("cert_a", "live", 3_000),
        ("cert_b", "spent", 2_500),
    ] {
        sqlx::query("INSERT INTO certificate_jtis (certificate_id, jti, expires_at) VALUES ($1, $2, $3)")
            .bind(certificate)
            .bind(jti)
            .bind(expires_at)
            .execute(db.pool())
            .await
            .expect("insert");
    }
    assert_eq!(service.prune_used_jtis(2_000).await.expect("prune"), 1);
    assert_eq!(service.prune_used_jtis(2_000).await.expect("prune"), 0, "nothing twice");
    let left: Vec<(String, String)> =
        sqlx::query_as("SELECT certificate_id, jti FROM certificate_jtis ORDER BY certificate_id, jti")
            .fetch_all(db.pool())
            .await
            .expect("read");
    assert_eq!(
        left,
        [
            ("cert_a".to_owned(), "live".to_owned()),
            ("cert_b".to_owned(), "spent".to_owned())
        ]
    );
    shutdown.cancel();
}

#[tokio::test]
async fn used_jtis_are_forgotten_once_their_jwt_expired_on_each_backend() {
    for backend in BACKENDS {
        used_jtis_are_forgotten_once_their_jwt_expired(backend).await;
    }
}
