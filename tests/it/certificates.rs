//! Certificates end to end, as an AGNT Connect client and the third parties it talks to use them:
//! the seed's curl examples replayed through the gateway; JWTs signed by PyJWT (an independent
//! library) with the returned private key authenticating wherever an API key does, once each, until
//! the certificate is revoked; the public key and the JWKS verifying them in PyJWT too; every way of
//! getting a JWT wrong answered 401 alike; accounts never reaching each other's certificates; the
//! events in the audit chain; and neither private keys nor JWTs in the logs. SQLite with the
//! in-process bus, PostgreSQL with NATS.

mod pyjwt;

use std::{collections::BTreeMap, time::Duration};

use latchkey::mesh::ServiceSettings;
use latchkey_server::{PlanLimits, Plans};
use latchkey_storage::Backend;
use latchkey_test_support::{captured, eventually};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::support::{Bus, TestMesh};

/// AGNT's create example, byte for byte.
const SEED_CREATE_BODY: &str = r#"{
"name": "Production API Key",
"algorithm": "RS256",
"expiresAt": "2027-03-01T00:00:00.000Z",
"metadata": {
"environment": "production",
"team": "backend"
}
}"#;

/// The seed's `expiresAt`, in Unix seconds.
const SEED_EXPIRY_SECS: i64 = 1_803_859_200;

/// A later expiry than the seed's, for the stories that must outlive it.
const LATER: &str = "2030-01-01T00:00:00.000Z";

fn keys_of(value: &Value) -> Vec<&str> {
    let mut keys: Vec<&str> = value
        .as_object()
        .expect("an object")
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    keys
}

async fn send(mesh: &TestMesh, method: Method, path: &str, credential: &str) -> (StatusCode, Value) {
    let response = mesh.as_key(method, path, credential).send().await.expect("send");
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn create(mesh: &TestMesh, credential: &str, body: Value) -> (StatusCode, Value) {
    let response = mesh
        .as_key(Method::POST, "/certificates", credential)
        .json(&body)
        .send()
        .await
        .expect("POST /certificates");
    let status = response.status();
    (status, response.json().await.expect("json"))
}

async fn create_ok(mesh: &TestMesh, credential: &str, algorithm: &str) -> Value {
    let (status, body) = create(
        mesh,
        credential,
        json!({"name": format!("{algorithm} signer"), "algorithm": algorithm, "expiresAt": LATER}),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    body
}

async fn get_public(mesh: &TestMesh, path: &str) -> reqwest::Response {
    mesh.http.get(mesh.url(path)).send().await.expect("GET")
}

fn now_secs() -> i64 {
    chrono::Utc::now().timestamp()
}

/// RFC 7523 claims for `account` at this deployment, with a fresh jti.
fn claims(mesh: &TestMesh, account: &str) -> Value {
    let now = now_secs();
    json!({"iss": account, "sub": account, "aud": mesh.base, "iat": now, "exp": now + 300,
           "jti": uuid::Uuid::now_v7().to_string()})
}

/// The request PyJWT signs for `certificate` (as created: with its private key) and `claims`.
fn signed_by(certificate: &Value, claims: Value) -> Value {
    pyjwt::sign(
        certificate["privateKey"].as_str().expect("privateKey"),
        certificate["algorithm"].as_str().expect("algorithm"),
        json!({"kid": certificate["kid"]}),
        claims,
    )
}

/// Asserts `token` is refused as any bad credential is, and that the answer does not quote it.
async fn assert_unauthorized(mesh: &TestMesh, token: &str, why: &str) {
    let response = mesh
        .as_key(Method::GET, "/v1/api-keys", token)
        .send()
        .await
        .expect("send");
    assert_eq!(response.status(), 401, "{why}");
    let text = response.text().await.expect("body");
    let body: Value = serde_json::from_str(&text).expect("a problem document");
    assert_eq!(body["code"], "UNAUTHORIZED", "{why}: {body}");
    for part in token.split('.').filter(|part| part.len() > 8) {
        assert!(!text.contains(part), "{why}: the answer quotes the token: {text}");
    }
}

async fn the_seeds_examples(backend: Backend, bus: Bus) {
    let mesh = TestMesh::start(backend, bus).await;
    let key = mesh.key.clone();

    // POST /certificates, the seed's body verbatim. Its expiry is 2027-03-01: once that has passed
    // the same body is refused on expiresAt, and the story goes on with a later date.
    let response = mesh
        .as_key(Method::POST, "/certificates", &key)
        .header("content-type", "application/json")
        .body(SEED_CREATE_BODY)
        .send()
        .await
        .expect("POST /certificates");
    let status = response.status();
    let mut created: Value = response.json().await.expect("json");
    if now_secs() < SEED_EXPIRY_SECS {
        assert_eq!(status, 201, "{created}");
        assert_eq!(created["expiresAt"], "2027-03-01T00:00:00.000Z");
    } else {
        assert_eq!(status, 400, "{created}");
        assert_eq!(created["errors"][0]["field"], "expiresAt");
        let mut body: Value = serde_json::from_str(SEED_CREATE_BODY).expect("JSON");
        body["expiresAt"] = json!(LATER);
        let (status, body) = create(&mesh, &key, body).await;
        assert_eq!(status, 201);
        created = body;
    }
    assert_eq!(
        keys_of(&created),
        [
            "account",
            "algorithm",
            "createdAt",
            "expiresAt",
            "id",
            "kid",
            "metadata",
            "name",
            "privateKey",
            "publicKey",
            "status",
            "updatedAt"
        ]
    );
    let id = created["id"].as_str().expect("id").to_owned();
    let kid = created["kid"].as_str().expect("kid").to_owned();
    assert!(id.starts_with("cert_") && kid.starts_with("kid_"), "{created}");
    assert_eq!(created["account"], mesh.account_id.as_str());
    assert_eq!(created["name"], "Production API Key");
    assert_eq!(
        (&created["algorithm"], &created["status"]),
        (&json!("RS256"), &json!("active"))
    );
    assert_eq!(
        created["metadata"],
        json!({"environment": "production", "team": "backend"})
    );
    let public_key = created["publicKey"].as_str().expect("publicKey").to_owned();
    assert!(
        public_key.starts_with("-----BEGIN PUBLIC KEY-----\nMIIBIjANBgkqhki"),
        "RSA 2048: {public_key}"
    );
    assert!(public_key.ends_with("\n-----END PUBLIC KEY-----"));
    let private_key = created["privateKey"].as_str().expect("privateKey").to_owned();
    assert!(private_key.starts_with("-----BEGIN PRIVATE KEY-----\nMII"), "PKCS#8");
    assert!(private_key.ends_with("\n-----END PRIVATE KEY-----"));
    let created_at = created["createdAt"].as_str().expect("createdAt");
    assert!(
        created_at.ends_with('Z') && created_at.len() == "2026-03-01T10:00:00.000Z".len(),
        "{created_at}"
    );
    assert_eq!(created["updatedAt"], created["createdAt"]);

    // GET /certificates: the seed's list shape, never a key.
    let (status, listed) = send(&mesh, Method::GET, "/certificates", &key).await;
    assert_eq!(status, 200);
    let data = listed["data"].as_array().expect("data");
    assert_eq!(data.len(), 1);
    assert_eq!(
        keys_of(&data[0]),
        [
            "algorithm",
            "createdAt",
            "expiresAt",
            "id",
            "kid",
            "metadata",
            "name",
            "status"
        ]
    );
    assert!(!listed.to_string().contains("KEY-----"), "{listed}");

    // GET /certificates/active and /certificates/{id}: the object without the private key.
    let mut without_private = created.clone();
    without_private.as_object_mut().expect("object").remove("privateKey");
    for path in ["/certificates/active".to_owned(), format!("/certificates/{id}")] {
        let (status, got) = send(&mesh, Method::GET, &path, &key).await;
        assert_eq!((status, &got), (StatusCode::OK, &without_private), "{path}");
    }

    // GET /certificates/public/{kid}: no credential; cacheable briefly.
    let response = get_public(&mesh, &format!("/certificates/public/{kid}")).await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers().get("cache-control").and_then(|v| v.to_str().ok()),
        Some("public, max-age=60")
    );
    let public: Value = response.json().await.expect("json");
    assert_eq!(
        public,
        json!({"kid": kid, "publicKey": public_key, "algorithm": "RS256"})
    );

    // DELETE an active certificate: 400, as the seed says.
    let (status, refused) = send(&mesh, Method::DELETE, &format!("/certificates/{id}"), &key).await;
    assert_eq!(status, 400, "{refused}");
    assert_eq!(refused["code"], "VALIDATION_ERROR");

    // POST /certificates/{id}/revoke: the seed's answer; again: the same answer.
    let (status, revoked) = send(&mesh, Method::POST, &format!("/certificates/{id}/revoke"), &key).await;
    assert_eq!(status, 200, "{revoked}");
    assert_eq!(keys_of(&revoked), ["id", "status", "updatedAt"]);
    assert_eq!((&revoked["id"], &revoked["status"]), (&json!(id), &json!("revoked")));
    let (status, again) = send(&mesh, Method::POST, &format!("/certificates/{id}/revoke"), &key).await;
    assert_eq!((status, &again), (StatusCode::OK, &revoked), "idempotent");
    assert_eq!(
        get_public(&mesh, &format!("/certificates/public/{kid}")).await.status(),
        404
    );
    assert_eq!(send(&mesh, Method::GET, "/certificates/active", &key).await.0, 404);

    // DELETE the revoked one: 204, then it is gone.
    let deleted = mesh
        .as_key(Method::DELETE, &format!("/certificates/{id}"), &key)
        .send()
        .await
        .expect("DELETE");
    assert_eq!(deleted.status(), 204);
    assert_eq!(
        send(&mesh, Method::GET, &format!("/certificates/{id}"), &key).await.0,
        404
    );

    // Every change is in the audit chain, without a key.
    let entries = mesh.audit_entries_at_least(&key, 5).await;
    let of_type = |kind: &str| entries.iter().filter(|e| e["type"] == kind).count();
    assert_eq!(
        (
            of_type("certificate.created"),
            of_type("certificate.revoked"),
            of_type("certificate.deleted")
        ),
        (1, 1, 1)
    );
    let chain = serde_json::to_string(&entries).expect("JSON");
    assert!(
        !chain.contains("PRIVATE KEY") && !chain.contains(&private_key[40..80]),
        "no key in the audit log"
    );
    mesh.stop().await;
}

#[tokio::test]
async fn the_seeds_examples_on_sqlite_with_the_in_process_bus() {
    the_seeds_examples(Backend::Sqlite, Bus::Local).await;
}

#[tokio::test]
async fn the_seeds_examples_on_postgres_with_nats() {
    the_seeds_examples(Backend::Postgres, Bus::Nats).await;
}

async fn pyjwt_signed_jwts_authenticate_once_until_revoked(backend: Backend, bus: Bus) {
    let mesh = TestMesh::start(backend, bus).await;
    let account = mesh.account_id.clone();
    let key = mesh.key.clone();
    let rsa = create_ok(&mesh, &key, "RS256").await;
    let ec = create_ok(&mesh, &key, "ES256").await;
    let ed = create_ok(&mesh, &key, "EdDSA").await;
    let other = create_ok(&mesh, &key, "RS256").await;

    let signed = pyjwt::run(&[
        signed_by(&rsa, claims(&mesh, &account)),
        signed_by(&ec, claims(&mesh, &account)),
        signed_by(&ed, claims(&mesh, &account)),
    ])
    .await;
    for (answer, certificate) in signed.iter().zip([&rsa, &ec, &ed]) {
        let token = pyjwt::token(answer);
        let (status, listed) = send(&mesh, Method::GET, "/v1/api-keys", &token).await;
        assert_eq!(status, 200, "{}: {listed}", certificate["algorithm"]);
        assert_unauthorized(&mesh, &token, "the same JWT again: its jti is spent").await;
    }

    // A third party verifies with what Latchkey publishes: the public key PEM and the JWKS.
    let jwks: Value = get_public(&mesh, &format!("/certificates/jwks.json?account={account}"))
        .await
        .json()
        .await
        .expect("JWKS");
    let published = jwks["keys"].as_array().expect("keys");
    assert_eq!(published.len(), 4, "{jwks}");
    let mut checks = Vec::new();
    for (answer, certificate) in signed.iter().zip([&rsa, &ec, &ed]) {
        let token = pyjwt::token(answer);
        let algorithm = certificate["algorithm"].as_str().expect("algorithm");
        let jwk = published
            .iter()
            .find(|jwk| jwk["kid"] == certificate["kid"])
            .expect("the certificate's JWK")
            .clone();
        assert_eq!((&jwk["use"], &jwk["alg"]), (&json!("sig"), &json!(algorithm)));
        let public: Value = get_public(
            &mesh,
            &format!("/certificates/public/{}", certificate["kid"].as_str().unwrap()),
        )
        .await
        .json()
        .await
        .expect("public key");
        checks.push(pyjwt::verify(
            public["publicKey"].clone(),
            algorithm,
            &token,
            &mesh.base,
        ));
        checks.push(pyjwt::verify(jwk, algorithm, &token, &mesh.base));
    }
    for verdict in pyjwt::run(&checks).await {
        assert_eq!(verdict["claims"]["sub"], account.as_str(), "{verdict}");
    }

    // A certificate JWT does what an API key does: here, creating a certificate, as its actor.
    let token = pyjwt::token(&pyjwt::run(&[signed_by(&rsa, claims(&mesh, &account))]).await[0]);
    let by_jwt = create_ok(&mesh, &token, "EdDSA").await;
    assert_eq!(by_jwt["account"], account.as_str());

    // Every way of getting one wrong: 401, the token never quoted.
    let now = now_secs();
    let with = |change: &dyn Fn(&mut Value)| {
        let mut claims = claims(&mesh, &account);
        change(&mut claims);
        claims
    };
    let rsa_key = rsa["privateKey"].as_str().expect("privateKey");
    let kid = json!({"kid": rsa["kid"]});
    let bad = [
        (
            "unknown kid",
            pyjwt::sign(
                rsa_key,
                "RS256",
                json!({"kid": "kid_0000000000000000"}),
                claims(&mesh, &account),
            ),
        ),
        (
            "no kid",
            pyjwt::sign(rsa_key, "RS256", json!({}), claims(&mesh, &account)),
        ),
        (
            "another alg than the certificate's",
            pyjwt::sign(rsa_key, "RS512", kid.clone(), claims(&mesh, &account)),
        ),
        (
            "PS256 with the right key",
            pyjwt::sign(rsa_key, "PS256", kid.clone(), claims(&mesh, &account)),
        ),
        (
            "alg none",
            pyjwt::sign(rsa_key, "none", kid.clone(), claims(&mesh, &account)),
        ),
        (
            "HS256 keyed with the public key",
            pyjwt::hs256(rsa["publicKey"].as_str().unwrap(), kid.clone(), claims(&mesh, &account)),
        ),
        (
            "another certificate's key under this kid",
            pyjwt::sign(
                other["privateKey"].as_str().unwrap(),
                "RS256",
                kid.clone(),
                claims(&mesh, &account),
            ),
        ),
        (
            "expired",
            pyjwt::sign(
                rsa_key,
                "RS256",
                kid.clone(),
                with(&|c| {
                    c["iat"] = json!(now - 900);
                    c["exp"] = json!(now - 300);
                }),
            ),
        ),
        (
            "living longer than an hour",
            pyjwt::sign(
                rsa_key,
                "RS256",
                kid.clone(),
                with(&|c| {
                    c["iat"] = json!(now);
                    c["exp"] = json!(now + 7200);
                }),
            ),
        ),
        (
            "another audience",
            pyjwt::sign(
                rsa_key,
                "RS256",
                kid.clone(),
                with(&|c| c["aud"] = json!("https://api.agnt.ai")),
            ),
        ),
        (
            "another account as issuer",
            pyjwt::sign(
                rsa_key,
                "RS256",
                kid.clone(),
                with(&|c| c["iss"] = json!("acct_0000000000000000")),
            ),
        ),
        (
            "no jti",
            pyjwt::sign(
                rsa_key,
                "RS256",
                kid.clone(),
                with(&|c| {
                    c.as_object_mut().map(|c| c.remove("jti"));
                }),
            ),
        ),
    ];
    let (whys, requests): (Vec<&str>, Vec<Value>) = bad.into_iter().unzip();
    for (why, answer) in whys.iter().zip(pyjwt::run(&requests).await) {
        assert_unauthorized(&mesh, &pyjwt::token(&answer), why).await;
    }
    assert_unauthorized(
        &mesh,
        &format!("{}.{}.{}", "e".repeat(3000), "e".repeat(3000), "e".repeat(3000)),
        "over 8 KiB",
    )
    .await;

    // Revoked: a JWT signed before the revocation, never used, is refused from the revocation on.
    let unused = pyjwt::token(&pyjwt::run(&[signed_by(&rsa, claims(&mesh, &account))]).await[0]);
    let id = rsa["id"].as_str().expect("id");
    assert_eq!(
        send(&mesh, Method::POST, &format!("/certificates/{id}/revoke"), &key)
            .await
            .0,
        200
    );
    assert_unauthorized(&mesh, &unused, "signed by a revoked certificate").await;

    // The audit chain names the certificate as the actor of what its JWT did.
    let by_jwt_id = by_jwt["id"].as_str().expect("id").to_owned();
    let actor_recorded = eventually(Duration::from_secs(30), || async {
        mesh.audit_entries(&key).await.iter().any(|e| {
            e["type"] == "certificate.created" && e["subject"] == by_jwt_id.as_str() && e["actor"] == rsa["id"]
        })
    })
    .await;
    assert!(actor_recorded, "certificate.created by the certificate's JWT");
    mesh.stop().await;
}

#[tokio::test]
async fn pyjwt_signed_jwts_authenticate_once_until_revoked_on_sqlite() {
    pyjwt_signed_jwts_authenticate_once_until_revoked(Backend::Sqlite, Bus::Local).await;
}

#[tokio::test]
async fn pyjwt_signed_jwts_authenticate_once_until_revoked_on_postgres_with_nats() {
    pyjwt_signed_jwts_authenticate_once_until_revoked(Backend::Postgres, Bus::Nats).await;
}

/// A problem document without what differs per request (its id and instance).
fn problem(mut body: Value) -> Value {
    if let Some(members) = body.as_object_mut() {
        members.remove("request_id");
        members.remove("instance");
    }
    body
}

#[tokio::test]
async fn another_account_reaches_none_of_its_certificates() {
    let mesh = TestMesh::start(Backend::Sqlite, Bus::Local).await;
    let a = mesh.key.clone();
    let (b_account, b) = mesh.mesh.create_account("Other").await.expect("account B");
    let mine = create_ok(&mesh, &a, "ES256").await;
    let id = mine["id"].as_str().expect("id");

    let (status, unknown) = send(&mesh, Method::GET, "/certificates/cert_0000000000000000", &b).await;
    assert_eq!(status, 404);
    let unknown = problem(unknown);
    for path in [
        format!("/certificates/{id}"),
        "/certificates/cert_*".to_owned(),
        "/certificates/cert_a.b".to_owned(),
        "/certificates/CERT_ABC".to_owned(),
        "/certificates/kid_abc".to_owned(),
        format!("/certificates/cert_{}", "a".repeat(200)),
    ] {
        let (status, body) = send(&mesh, Method::GET, &path, &b).await;
        assert_eq!(
            (status, problem(body)),
            (StatusCode::NOT_FOUND, unknown.clone()),
            "{path}"
        );
    }
    for (method, path) in [
        (Method::POST, format!("/certificates/{id}/revoke")),
        (Method::DELETE, format!("/certificates/{id}")),
    ] {
        let (status, body) = send(&mesh, method, &path, &b).await;
        assert_eq!(
            (status, problem(body)),
            (StatusCode::NOT_FOUND, unknown.clone()),
            "{path}"
        );
    }
    let (_, listed) = send(&mesh, Method::GET, "/certificates", &b).await;
    assert_eq!(listed, json!({"data": []}));
    assert_eq!(send(&mesh, Method::GET, "/certificates/active", &b).await.0, 404);
    let (_, still) = send(&mesh, Method::GET, &format!("/certificates/{id}"), &a).await;
    assert_eq!(still["status"], "active");

    // B's certificate cannot speak for A, whatever its claims say.
    let theirs = create_ok(&mesh, &b, "EdDSA").await;
    let as_a = pyjwt::run(&[signed_by(&theirs, claims(&mesh, &mesh.account_id))]).await;
    assert_unauthorized(&mesh, &pyjwt::token(&as_a[0]), "B's certificate claiming A").await;
    let as_b = pyjwt::run(&[signed_by(&theirs, claims(&mesh, &b_account))]).await;
    let (status, listed) = send(&mesh, Method::GET, "/certificates", &pyjwt::token(&as_b[0])).await;
    assert_eq!(status, 200);
    assert_eq!(
        listed["data"].as_array().map(Vec::len),
        Some(1),
        "B's own list: {listed}"
    );

    // The JWKS of an account is its own; text that is no account has none; no account is a 400.
    let jwks = |query: &str| {
        let url = mesh.url(&format!("/certificates/jwks.json{query}"));
        let http = mesh.http.clone();
        async move {
            let response = http.get(url).send().await.expect("GET");
            let status = response.status();
            (status, response.json::<Value>().await.expect("json"))
        }
    };
    let (status, of_a) = jwks(&format!("?account={}", mesh.account_id)).await;
    assert_eq!(status, 200);
    assert_eq!(of_a["keys"].as_array().map(Vec::len), Some(1));
    assert_eq!(of_a["keys"][0]["kid"], mine["kid"]);
    assert_eq!(
        (&of_a["keys"][0]["kty"], &of_a["keys"][0]["crv"]),
        (&json!("EC"), &json!("P-256"))
    );
    for nobody in [
        "?account=acct_0000000000000000",
        "?account=acct_*",
        "?account=",
        "?account=%00",
    ] {
        assert_eq!(jwks(nobody).await, (StatusCode::OK, json!({"keys": []})), "{nobody}");
    }
    let (status, missing) = jwks("").await;
    assert_eq!(status, 400);
    assert_eq!(missing["errors"][0]["field"], "account");
    for kid in ["kid_0000000000000000", "kid_*", "cert_abc", "kid_a.b"] {
        let response = get_public(&mesh, &format!("/certificates/public/{kid}")).await;
        assert_eq!(response.status(), 404, "{kid}");
    }
    mesh.stop().await;
}

#[tokio::test]
async fn bad_requests_name_the_field_and_create_nothing() {
    let mesh = TestMesh::start(Backend::Sqlite, Bus::Local).await;
    let key = mesh.key.clone();
    let cases = [
        (json!({}), "name"),
        (json!({"name": ""}), "name"),
        (json!({"name": "x".repeat(101)}), "name"),
        (json!({"name": 42}), "name"),
        (json!({"name": "ok", "algorithm": "HS256"}), "algorithm"),
        (json!({"name": "ok", "algorithm": "rs256"}), "algorithm"),
        (json!({"name": "ok", "expiresAt": "2020-01-01T00:00:00Z"}), "expiresAt"),
        (json!({"name": "ok", "expiresAt": "2099-01-01T00:00:00Z"}), "expiresAt"),
        (json!({"name": "ok", "expiresAt": "soon"}), "expiresAt"),
        (json!({"name": "ok", "expiresAt": 1_900_000_000}), "expiresAt"),
        (json!({"name": "ok", "metadata": {"team": 7}}), "metadata.team"),
        (json!({"name": "ok", "metadata": ["a"]}), "metadata"),
        (
            json!({"name": "ok", "metadata": {"team": "x".repeat(501)}}),
            "metadata.team",
        ),
        (
            json!({"name": "ok", "privateKey": "-----BEGIN PRIVATE KEY-----"}),
            "privateKey",
        ),
    ];
    for (body, field) in cases {
        let (status, answer) = create(&mesh, &key, body.clone()).await;
        assert_eq!(status, 400, "{body}: {answer}");
        assert_eq!(answer["code"], "VALIDATION_ERROR", "{body}");
        let fields: Vec<&str> = answer["errors"]
            .as_array()
            .expect("errors")
            .iter()
            .filter_map(|e| e["field"].as_str())
            .collect();
        assert!(fields.contains(&field), "{body}: {answer}");
    }
    let not_json = mesh
        .as_key(Method::POST, "/certificates", &key)
        .header("content-type", "text/plain")
        .body("name=x")
        .send()
        .await
        .expect("POST");
    assert_eq!(not_json.status(), 415);
    let unauthenticated = mesh
        .http
        .post(mesh.url("/certificates"))
        .json(&json!({"name": "x"}))
        .send()
        .await
        .expect("POST");
    assert_eq!(unauthenticated.status(), 401);
    assert_eq!(
        send(&mesh, Method::GET, "/certificates", &key).await.1,
        json!({"data": []})
    );
    mesh.stop().await;
}

#[tokio::test]
async fn no_private_key_or_jwt_reaches_the_logs_or_traces() {
    captured::install();
    let mesh = TestMesh::start(Backend::Sqlite, Bus::Local).await;
    let account = mesh.account_id.clone();
    let certificate = create_ok(&mesh, &mesh.key, "RS256").await;
    let answers = pyjwt::run(&[
        signed_by(&certificate, claims(&mesh, &account)),
        signed_by(&certificate, claims(&mesh, &account)),
    ])
    .await;
    let (good, replayed) = (pyjwt::token(&answers[0]), pyjwt::token(&answers[0]));
    assert_eq!(send(&mesh, Method::GET, "/certificates", &good).await.0, 200);
    assert_unauthorized(&mesh, &replayed, "replayed").await;
    let other = pyjwt::token(&answers[1]);
    let tampered = format!("{}x", &other[..other.len() - 1]);
    assert_unauthorized(&mesh, &tampered, "a tampered signature").await;

    let logs = captured::logs();
    assert!(!logs.is_empty(), "the capture saw the flow");
    let spans = captured::all_span_text();
    let private_key = certificate["privateKey"].as_str().expect("privateKey");
    let body_line = private_key.lines().nth(5).expect("a line of the key");
    for (what, secret) in [
        ("private key", body_line),
        ("JWT signature", good.rsplit('.').next().unwrap()),
    ] {
        captured::assert_not_captured(what, secret);
        assert!(!logs.contains(secret) && !spans.contains(secret), "{what} was logged");
    }
    mesh.stop().await;
}

#[tokio::test]
async fn certificates_count_against_the_plan_and_a_jwt_carries_the_plan() {
    // `free`: one certificate, no webhooks; `pro`: no limits.
    let free = PlanLimits {
        certificates: Some(1),
        webhooks: Some(0),
        ..PlanLimits::default()
    };
    let plans = Plans::new(
        "free",
        BTreeMap::from([
            ("free".to_owned(), free),
            ("pro".to_owned(), PlanLimits::default()),
            ("self-hosted".to_owned(), PlanLimits::default()),
        ]),
    )
    .expect("plans");
    let settings = ServiceSettings {
        plans,
        gateway: crate::support::gateway_config(),
        ..ServiceSettings::default()
    };
    let mesh = TestMesh::start_with_settings(Backend::Sqlite, Bus::Local, settings).await;
    let (account, key) = (mesh.account_id.clone(), mesh.key.clone());

    let first = create_ok(&mesh, &key, "EdDSA").await;
    let (status, problem) = create(&mesh, &key, json!({"name": "second", "algorithm": "EdDSA"})).await;
    assert_eq!(status, 402, "{problem}");
    assert_eq!(
        (
            &problem["code"],
            &problem["resource"],
            &problem["limit"],
            &problem["usage"]
        ),
        (&json!("PLAN_LIMIT"), &json!("certificates"), &json!(1), &json!(1))
    );
    let (_, usage) = send(&mesh, Method::GET, "/v1/usage", &key).await;
    assert_eq!(
        (&usage["limits"]["certificates"], &usage["usage"]["certificates"]),
        (&json!(1), &json!(1))
    );

    // A JWT's principal is on the account's plan: the webhook service refuses by it...
    let webhook = json!({"url": "https://hooks.example.com/latchkey", "events": ["certificate.created"]});
    let post_webhook = |credential: String| {
        let request = mesh.as_key(Method::POST, "/v1/webhooks", &credential).json(&webhook);
        async move {
            let response = request.send().await.expect("POST /v1/webhooks");
            let status = response.status();
            (status, response.json::<Value>().await.expect("json"))
        }
    };
    let jwt = |mesh: &TestMesh| pyjwt::run_one(signed_by(&first, claims(mesh, &account)));
    let (status, refused) = post_webhook(jwt(&mesh).await).await;
    assert_eq!(status, 402, "{refused}");
    assert_eq!(refused["plan"], "free");

    // ...and a revoked certificate no longer counts.
    let id = first["id"].as_str().expect("id");
    assert_eq!(
        send(&mesh, Method::POST, &format!("/certificates/{id}/revoke"), &key)
            .await
            .0,
        200
    );
    let second = create_ok(&mesh, &key, "ES256").await;

    // Moved to `pro`: the very next JWT carries it (nothing is cached for JWTs).
    mesh.mesh.set_account_plan(&account, "pro").await.expect("move to pro");
    let token = pyjwt::run_one(signed_by(&second, claims(&mesh, &account))).await;
    let (status, created) = post_webhook(token).await;
    assert_eq!(status, 201, "{created}");
    mesh.stop().await;
}
