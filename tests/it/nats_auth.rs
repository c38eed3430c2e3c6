//! NATS with a user per service (`latchkey nats-config`'s authorization, `crate::nats_users`): the
//! mesh runs on it end to end without one permissions violation; a service's user is refused
//! another service's event types, wildcards, other consumers and other inboxes; a connection
//! without credentials, with a wrong password or another service's name is refused, `serve` saying
//! so at start without the password; and a service may authenticate with an nkey seed file instead,
//! or with a `.creds` file against a server in operator mode.

use std::{process::Command, time::Duration};

use async_nats::{ConnectErrorKind, Event, jetstream};
use latchkey::{
    nats_config::{Credential, authorization, variable},
    settings::Settings,
};
use latchkey_events::{
    Envelope, EventBus, NatsConnection,
    access::{SERVICES, inbox_prefix, stream_name},
    catalogue::AccountCreated,
};
use latchkey_test_support::{NatsServer, PostgresServer, eventually};
use serde_json::{Value, json};
use tokio::sync::mpsc;

use crate::{
    binary::{BINARY, free_port},
    nats_users::{ADMIN, MESH_PREFIX, admin, mesh_nats, password, violations},
    process_mesh::ProcessMesh,
};

/// The types of the account's audit entries matching `types` (`api_key.*`).
async fn audited(http: &reqwest::Client, base: &str, key: &str, types: &str) -> Vec<String> {
    let page: Value = http
        .get(format!("{base}/v1/audit?type={types}&order=oldest&limit=100"))
        .bearer_auth(key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap_or_default();
    page["data"]
        .as_array()
        .map(|entries| {
            entries
                .iter()
                .filter_map(|entry| entry["type"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test]
async fn a_mesh_of_nats_users_carries_events_end_to_end_without_a_permissions_violation() {
    let postgres = PostgresServer::spawn();
    postgres.create_database("latchkey");
    let nats = mesh_nats().await;
    let mesh = ProcessMesh::start(&postgres.url("latchkey"), &nats.url(), |_| 1, &[]).await;
    // Ready: every service made its stream, consumers and replays on its own user (the gateway is
    // ready only once its revocation replay caught up).
    mesh.wait_ready().await;
    let key = mesh.create_account("NATS users");
    let http = reqwest::Client::new();
    let base = mesh.gateway(0);

    // agent-token publishes api_key.*; the audit consumer chains them; the gateway's live feed of
    // api_key.* evicts the deleted key; policy's outbox and its own live feed carry policy.*.
    let created: Value = http
        .post(format!("{base}/v1/api-keys"))
        .bearer_auth(&key)
        .json(&json!({"name": "over nats"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let secret = created["key"].as_str().expect("the new key").to_owned();
    let listed = http
        .get(format!("{base}/v1/api-keys"))
        .bearer_auth(&secret)
        .send()
        .await
        .unwrap();
    assert_eq!(listed.status(), 200);
    let deleted = http
        .delete(format!("{base}/v1/api-keys/{}", created["id"].as_str().unwrap()))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), 204);
    let refused = eventually(Duration::from_secs(30), || async {
        let answer = http
            .get(format!("{base}/v1/api-keys"))
            .bearer_auth(&secret)
            .send()
            .await;
        answer.is_ok_and(|answer| answer.status() == 401)
    })
    .await;
    assert!(refused, "the deleted key still works");
    let policy = http
        .post(format!("{base}/v1/policies"))
        .bearer_auth(&key)
        .json(&json!({"name": "no secrets", "rules": [{"match": {"scopes": ["secrets.*"]}, "effect": "deny"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(policy.status(), 201);

    let chained = eventually(Duration::from_secs(60), || async {
        let keys = audited(&http, &base, &key, "api_key.*").await;
        let policies = audited(&http, &base, &key, "policy.*").await;
        keys.iter().filter(|t| *t == "api_key.created").count() == 2
            && keys.contains(&"api_key.deleted".to_owned())
            && policies.contains(&"policy.created".to_owned())
    })
    .await;
    assert!(
        chained,
        "the events did not reach the audit chain; logs in {}",
        mesh.logs().display()
    );
    let verified: Value = http
        .get(format!("{base}/v1/audit/verify"))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(verified["valid"], true, "{verified}");

    assert_eq!(violations(&nats.log()), Vec::<String>::new());
    for log in std::fs::read_dir(mesh.logs()).unwrap() {
        let path = log.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            !text.contains("the NATS server reported an error"),
            "{}: {text}",
            path.display()
        );
    }
}

/// A client connected as `service`'s user with its own inbox, and the errors the server sends it.
struct ServiceClient {
    client: async_nats::Client,
    errors: mpsc::UnboundedReceiver<String>,
}

impl ServiceClient {
    async fn connect(nats: &NatsServer, service: &str) -> Self {
        let options = async_nats::ConnectOptions::with_user_and_password(service.to_owned(), password(service))
            .custom_inbox_prefix(inbox_prefix(service));
        Self::connect_with(nats, options, service).await
    }

    async fn connect_with(nats: &NatsServer, options: async_nats::ConnectOptions, service: &str) -> Self {
        let (sent, errors) = mpsc::unbounded_channel();
        let client = options
            .event_callback(move |event| {
                if let Event::ServerError(error) = event {
                    let _ = sent.send(error.to_string());
                }
                std::future::ready(())
            })
            .connect(nats.url())
            .await
            .unwrap_or_else(|error| panic!("{service} connects: {error}"));
        Self { client, errors }
    }

    fn jetstream(&self) -> jetstream::Context {
        jetstream::ContextBuilder::new()
            .timeout(Duration::from_secs(2))
            .build(self.client.clone())
    }

    /// Waits for the server's refusal of `what` (`Publish to "…"`, `Subscription to "…"`).
    async fn refused(&mut self, what: &str) {
        let wanted = format!("Permissions Violation for {what}");
        let found = tokio::time::timeout(Duration::from_secs(10), async {
            while let Some(error) = self.errors.recv().await {
                if error.contains(&wanted) {
                    return true;
                }
            }
            false
        })
        .await;
        assert_eq!(found, Ok(true), "no refusal of {what}");
    }
}

/// An envelope of `event_type` for `account`, as its publisher would make it.
fn envelope(event_type: &str, account: &str) -> Envelope {
    let data = AccountCreated {
        account_id: account.to_owned(),
        name: "n".to_owned(),
    };
    let mut envelope = Envelope::new("/latchkey/test", account, None, &data);
    envelope.event_type = event_type.to_owned();
    envelope
}

#[tokio::test]
async fn a_service_user_is_refused_other_services_types_wildcards_consumers_and_inboxes() {
    let nats = mesh_nats().await;
    let stream = stream_name(MESH_PREFIX);
    // The webhook's user may make the stream, as every service does at start, and publish its own.
    let options = async_nats::ConnectOptions::with_user_and_password("webhook".into(), password("webhook"))
        .custom_inbox_prefix(inbox_prefix("webhook"));
    let connection = NatsConnection::connect(nats.url(), options).await.unwrap();
    let bus = EventBus::nats(connection, MESH_PREFIX)
        .await
        .expect("the webhook's user makes the stream");
    let own = envelope("endpoint.created", "acct_1");
    bus.publish(std::slice::from_ref(&own))
        .await
        .expect("its own event type");

    let mut webhook = ServiceClient::connect(&nats, "webhook").await;
    let js = webhook.jetstream();
    // agent-token's revocation, for any account: refused (the publish is dropped, never acknowledged).
    let forged = envelope("token.revoked", "acct_1");
    let subject = forged.subject_under(MESH_PREFIX);
    let sent = match js.publish(subject.clone(), forged.to_json().into()).await {
        Ok(ack) => ack.await.map(drop).map_err(|error| error.to_string()),
        Err(error) => Err(error.to_string()),
    };
    assert!(sent.is_err(), "stored: {sent:?}");
    webhook.refused(&format!("Publish to \"{subject}\"")).await;
    // Wildcards in the published subject match no permission but their own.
    for subject in [
        format!("{MESH_PREFIX}.events.>"),
        format!("{MESH_PREFIX}.events.acct_1.>"),
        format!("{MESH_PREFIX}.events.acct_1.token.*"),
    ] {
        webhook
            .client
            .publish(subject.clone(), forged.to_json().into())
            .await
            .unwrap();
        webhook.refused(&format!("Publish to \"{subject}\"")).await;
    }
    // Another service's durable, a consumer of the whole stream, deleting the stream.
    for subject in [
        format!("$JS.API.CONSUMER.MSG.NEXT.{stream}.audit"),
        format!("$JS.API.CONSUMER.CREATE.{stream}.sneak"),
        format!("$JS.API.STREAM.DELETE.{stream}"),
        format!("$JS.API.STREAM.PURGE.{stream}"),
    ] {
        webhook.client.publish(subject.clone(), "{}".into()).await.unwrap();
        webhook.refused(&format!("Publish to \"{subject}\"")).await;
    }

    // The gateway reads its own patterns and inbox only: not every event, not the audit's replies.
    let mut gateway = ServiceClient::connect(&nats, "gateway").await;
    for subject in [
        format!("{MESH_PREFIX}.events.>"),
        "_INBOX.audit.>".to_owned(),
        ">".to_owned(),
    ] {
        let _subscription = gateway.client.subscribe(subject.clone()).await.unwrap();
        gateway.refused(&format!("Subscription to \"{subject}\"")).await;
    }
    // Not even through a wildcard its replays may use: another service's durable is denied.
    gateway
        .client
        .publish(format!("$JS.API.CONSUMER.MSG.NEXT.{stream}.audit"), "{}".into())
        .await
        .unwrap();
    gateway
        .refused(&format!("Publish to \"$JS.API.CONSUMER.MSG.NEXT.{stream}.audit\""))
        .await;

    // Only the webhook's own event was stored.
    let inspector = admin().connect(nats.url()).await.unwrap();
    let events = jetstream::new(inspector).get_stream(&stream).await.unwrap();
    let stored = events.get_info().await.unwrap().state;
    assert_eq!(stored.messages, 1, "only the webhook's own event");
    let last = events
        .get_last_raw_message_by_subject(&own.subject_under(MESH_PREFIX))
        .await;
    assert!(last.is_ok(), "{last:?}");
}

#[tokio::test]
async fn a_connection_without_credentials_or_with_wrong_ones_is_refused() {
    let nats = mesh_nats().await;
    let attempts = [
        ("no credentials", async_nats::ConnectOptions::new()),
        (
            "a wrong password",
            async_nats::ConnectOptions::with_user_and_password("audit".into(), "wrong-password".into()),
        ),
        (
            "another service's name",
            async_nats::ConnectOptions::with_user_and_password("gateway".into(), password("audit")),
        ),
        (
            "an unknown user",
            async_nats::ConnectOptions::with_user_and_password("intruder".into(), password("audit")),
        ),
        (
            "an empty password",
            async_nats::ConnectOptions::with_user_and_password("audit".into(), String::new()),
        ),
    ];
    for (what, options) in attempts {
        let refused = options.connect(nats.url()).await.expect_err(what);
        assert_eq!(
            refused.kind(),
            ConnectErrorKind::AuthorizationViolation,
            "{what}: {refused}"
        );
    }
    // The right password for the right user is let in.
    let audit = async_nats::ConnectOptions::with_user_and_password("audit".into(), password("audit"));
    audit.connect(nats.url()).await.expect("audit's own credentials");
    assert!(admin().connect(nats.url()).await.is_ok(), "{ADMIN:?}");

    // `serve` with a wrong password stops at start, saying who NATS refused, never the password.
    let wrong = "canary-wrong-password";
    let started = Command::new(BINARY)
        .args(["serve", "gateway", "--listen", &format!("127.0.0.1:{}", free_port())])
        .env("LATCHKEY__NATS__URL", nats.url())
        .env("LATCHKEY__NATS__USER", "gateway")
        .env("LATCHKEY__NATS__PASSWORD", wrong)
        .env("LATCHKEY__MESH__ALLOW_PLAINTEXT", "true")
        .env("LATCHKEY__MESH__SERVICE_TOKEN", "nats-auth-mesh-token-0123456789")
        .env("LATCHKEY__TELEMETRY__LOG_FILTER", "info")
        .output()
        .expect("run latchkey serve gateway");
    let stderr = String::from_utf8_lossy(&started.stderr);
    assert!(!started.status.success(), "started with a wrong password: {stderr}");
    assert!(
        stderr.contains("refused user \"gateway\"") && stderr.contains(&nats.url()),
        "{stderr}"
    );
    assert!(!stderr.contains(wrong), "the password reached the log: {stderr}");
}

#[tokio::test]
async fn a_service_authenticates_with_its_nkey_seed_file() {
    // The server knows each service's public key; each service holds its seed in a file.
    let keys: Vec<(&str, nkeys::KeyPair)> = SERVICES
        .iter()
        .map(|access| (access.service, nkeys::KeyPair::new_user()))
        .collect();
    let mut config = String::new();
    for (service, key) in &keys {
        config.push_str(&format!(
            "{}: {:?}\n",
            variable(service, Credential::Nkey),
            key.public_key()
        ));
    }
    config.push_str(&authorization(MESH_PREFIX, Credential::Nkey));
    let nats = NatsServer::spawn_with_config(&config).await;
    let mounted = tempfile::tempdir().unwrap();
    let seed_file = |name: &str, key: &nkeys::KeyPair| {
        let path = mounted.path().join(name);
        std::fs::write(&path, format!("{}\n", key.seed().unwrap())).unwrap();
        path.display().to_string()
    };
    let settings_of = |seed_file: String| {
        let env = [
            ("LATCHKEY__NATS__URL".to_owned(), nats.url()),
            ("LATCHKEY__NATS__NKEY_SEED_FILE".to_owned(), seed_file),
        ];
        Settings::load(None, env).expect("settings")
    };
    let (_, agent_token) = keys.iter().find(|(service, _)| *service == "agent-token").unwrap();
    agent_token_makes_the_stream_and_publishes(&settings_of(seed_file("agent-token.seed", agent_token))).await;

    // A seed the server does not know.
    let stranger = nkeys::KeyPair::new_user();
    let stranger = settings_of(seed_file("stranger.seed", &stranger));
    let refused = NatsConnection::connect(nats_url_of(&stranger), agent_token_options(&stranger))
        .await
        .expect_err("an unknown key");
    assert_eq!(refused.kind(), ConnectErrorKind::AuthorizationViolation, "{refused}");
    assert_eq!(violations(&nats.log()), Vec::<String>::new());
}

/// agent-token's connection options under `settings`: its inbox and its credentials.
fn agent_token_options(settings: &Settings) -> async_nats::ConnectOptions {
    let options = async_nats::ConnectOptions::new().custom_inbox_prefix(inbox_prefix("agent-token"));
    settings.nats.authenticate(options).expect("options")
}

/// Connects as agent-token under `settings`, makes the stream as the service does at start, and
/// publishes one of its own event types.
async fn agent_token_makes_the_stream_and_publishes(settings: &Settings) {
    let connection = NatsConnection::connect(nats_url_of(settings), agent_token_options(settings))
        .await
        .expect("agent-token's credentials are let in");
    let bus = EventBus::nats(connection, MESH_PREFIX)
        .await
        .expect("it makes the stream");
    let issued = envelope("token.issued", "acct_1");
    bus.publish(std::slice::from_ref(&issued))
        .await
        .expect("its own event type");
}

/// The first server of the settings' `nats.url`.
fn nats_url_of(settings: &Settings) -> String {
    settings.nats.servers()[0].to_owned()
}

/// A NATS JWT (nats-server's decentralised auth): `claims` with the issuer's public key, signed by
/// it with Ed25519 over `header.claims`, all base64url without padding.
fn nats_jwt(issuer: &nkeys::KeyPair, subject: &str, name: &str, nats: Value) -> String {
    use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
    let header = URL_SAFE_NO_PAD.encode(json!({"typ": "JWT", "alg": "ed25519-nkey"}).to_string());
    let claims = json!({
        "jti": uuid::Uuid::now_v7().simple().to_string().to_uppercase(),
        "iat": chrono::Utc::now().timestamp(),
        "iss": issuer.public_key(),
        "sub": subject,
        "name": name,
        "nats": nats,
    });
    let signed = format!("{header}.{}", URL_SAFE_NO_PAD.encode(claims.to_string()));
    let signature = issuer.sign(signed.as_bytes()).expect("sign the claims");
    format!("{signed}.{}", URL_SAFE_NO_PAD.encode(signature))
}

/// An account's claims with no limit but JetStream's on (unlimited memory and file storage).
fn account_claims(jetstream: bool) -> Value {
    let storage = if jetstream { -1 } else { 0 };
    json!({
        "type": "account",
        "version": 2,
        "limits": {
            "subs": -1, "data": -1, "payload": -1, "imports": -1, "exports": -1,
            "wildcards": true, "conn": -1, "leaf": -1,
            "mem_storage": storage, "disk_storage": storage, "streams": -1, "consumer": -1,
        },
    })
}

/// A `.creds` file as `nsc` writes it: the user's JWT, then its seed.
fn creds_file(jwt: &str, user: &nkeys::KeyPair) -> String {
    format!(
        "-----BEGIN NATS USER JWT-----\n{jwt}\n------END NATS USER JWT------\n\n\
         ************************* IMPORTANT *************************\n\
         NKEY Seed printed below can be used to sign and prove identity.\n\n\
         -----BEGIN USER NKEY SEED-----\n{}\n------END USER NKEY SEED------\n",
        user.seed().expect("the user's seed")
    )
}

#[tokio::test]
async fn a_service_authenticates_with_a_credentials_file_of_an_operator_mode_server() {
    // An operator trusts the account; the account issues agent-token's user JWT, whose
    // permissions are the code's own table, as an operator would give them with `nsc`.
    let operator = nkeys::KeyPair::new_operator();
    let system = nkeys::KeyPair::new_account();
    let account = nkeys::KeyPair::new_account();
    let operator_jwt = nats_jwt(
        &operator,
        &operator.public_key(),
        "latchkey-test",
        json!({"type": "operator", "version": 2, "system_account": system.public_key()}),
    );
    let config = format!(
        "operator: {operator_jwt:?}\nsystem_account: {:?}\nresolver: MEMORY\nresolver_preload: {{\n  {}: {:?}\n  {}: {:?}\n}}\n",
        system.public_key(),
        system.public_key(),
        nats_jwt(&operator, &system.public_key(), "SYS", account_claims(false)),
        account.public_key(),
        nats_jwt(&operator, &account.public_key(), "latchkey", account_claims(true)),
    );
    let nats = NatsServer::spawn_with_config(&config).await;
    let access = SERVICES.iter().find(|access| access.service == "agent-token").unwrap();
    let permissions = latchkey_events::access::nats_permissions(access, MESH_PREFIX);
    let user_claims = json!({
        "type": "user",
        "version": 2,
        "pub": {"allow": permissions.publish, "deny": permissions.publish_deny},
        "sub": {"allow": permissions.subscribe},
        "subs": -1, "data": -1, "payload": -1,
    });
    let mounted = tempfile::tempdir().unwrap();
    let write_creds = |name: &str, issuer: &nkeys::KeyPair| {
        let user = nkeys::KeyPair::new_user();
        let jwt = nats_jwt(issuer, &user.public_key(), "agent-token", user_claims.clone());
        let path = mounted.path().join(name);
        std::fs::write(&path, creds_file(&jwt, &user)).unwrap();
        path.display().to_string()
    };
    let settings_of = |creds: String| {
        let env = [
            ("LATCHKEY__NATS__URL".to_owned(), nats.url()),
            ("LATCHKEY__NATS__CREDENTIALS_FILE".to_owned(), creds),
        ];
        Settings::load(None, env).expect("settings")
    };
    let settings = settings_of(write_creds("agent-token.creds", &account));
    agent_token_makes_the_stream_and_publishes(&settings).await;

    // The user JWT's permissions hold: the webhook's event type is refused, never stored.
    let mut agent_token = ServiceClient::connect_with(&nats, agent_token_options(&settings), "agent-token").await;
    let forged = envelope("endpoint.created", "acct_1");
    let subject = forged.subject_under(MESH_PREFIX);
    let stored = match agent_token
        .jetstream()
        .publish(subject.clone(), forged.to_json().into())
        .await
    {
        Ok(ack) => ack.await.map(drop).map_err(|error| error.to_string()),
        Err(error) => Err(error.to_string()),
    };
    assert!(stored.is_err(), "another service's type was stored: {stored:?}");
    agent_token.refused(&format!("Publish to \"{subject}\"")).await;

    // A user JWT issued by an account the operator never signed is refused at connect.
    let stranger = nkeys::KeyPair::new_account();
    let stranger = settings_of(write_creds("stranger.creds", &stranger));
    let refused = NatsConnection::connect(nats_url_of(&stranger), agent_token_options(&stranger))
        .await
        .expect_err("a user of an unknown account");
    assert!(
        matches!(
            refused.kind(),
            ConnectErrorKind::AuthorizationViolation | ConnectErrorKind::Authentication
        ),
        "{refused}"
    );
}
