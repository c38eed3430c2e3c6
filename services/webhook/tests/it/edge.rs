//! The gRPC edge parses ids: one that is not an id of its kind (a wildcard, a dot, another kind's
//! prefix, upper case, too long) names nothing and gets exactly what an unknown id gets.

use latchkey_errors::ApiError;
use latchkey_events::EventBus;
use latchkey_ids::{EndpointId, MessageId};
use latchkey_proto::webhook::v1::{self as pb, webhook_service_client::WebhookServiceClient};
use latchkey_server::{MeshAuth, MeshChannel, with_account};
use latchkey_storage::Db;
use latchkey_test_support::TestDatabase;
use latchkey_webhook::{Webhook, WebhookConfig};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tonic::{Code, Status};

const TOKEN: &str = "webhook-edge-test-token";
const ACCOUNT: &str = "acct_edge";

type Client = WebhookServiceClient<MeshChannel>;

fn ask<T>(message: T) -> tonic::Request<T> {
    with_account(message, ACCOUNT, Some("key_edge"))
}

/// Every call that names an endpoint, with `endpoint_id` (and an unknown message): what each
/// answered, as (call, code, the error the gateway would read).
async fn answers(client: &mut Client, endpoint_id: &str) -> Vec<(&'static str, Code, ApiError)> {
    let id = || endpoint_id.to_owned();
    let results: Vec<(&'static str, Result<(), Status>)> = vec![
        (
            "GetEndpoint",
            client
                .get_endpoint(ask(pb::GetEndpointRequest { id: id() }))
                .await
                .map(drop),
        ),
        (
            "DeleteEndpoint",
            client
                .delete_endpoint(ask(pb::DeleteEndpointRequest { id: id() }))
                .await
                .map(drop),
        ),
        (
            "RotateSecret",
            client
                .rotate_secret(ask(pb::RotateSecretRequest {
                    id: id(),
                    overlap_secs: None,
                }))
                .await
                .map(drop),
        ),
        (
            "EnableEndpoint",
            client
                .enable_endpoint(ask(pb::EnableEndpointRequest { id: id() }))
                .await
                .map(drop),
        ),
        (
            "ListAttempts",
            client
                .list_attempts(ask(pb::ListAttemptsRequest {
                    endpoint_id: id(),
                    limit: 0,
                    before: String::new(),
                }))
                .await
                .map(drop),
        ),
        (
            "RetryMessage",
            client
                .retry_message(ask(pb::RetryMessageRequest {
                    endpoint_id: id(),
                    message_id: MessageId::new().into_string(),
                }))
                .await
                .map(drop),
        ),
        (
            "Replay",
            client
                .replay(ask(pb::ReplayRequest {
                    endpoint_id: id(),
                    since_ms: 1,
                    until_ms: 2,
                }))
                .await
                .map(drop),
        ),
        (
            "SendTest",
            client
                .send_test(ask(pb::SendTestRequest { endpoint_id: id() }))
                .await
                .map(drop),
        ),
    ];
    results
        .into_iter()
        .map(|(call, result)| {
            let status = result.expect_err(call);
            (call, status.code(), ApiError::from_status(&status))
        })
        .collect()
}

async fn retry(client: &mut Client, endpoint_id: &str, message_id: &str) -> Status {
    client
        .retry_message(ask(pb::RetryMessageRequest {
            endpoint_id: endpoint_id.to_owned(),
            message_id: message_id.to_owned(),
        }))
        .await
        .expect_err("no such message")
}

#[tokio::test]
async fn a_malformed_id_is_answered_as_an_unknown_one() {
    let database = TestDatabase::sqlite();
    let db = Db::connect(database.url()).await.expect("open the database");
    let bus = EventBus::local(db.clone()).await.expect("open the bus");
    let service = Webhook::open(db, MeshAuth::new(TOKEN), WebhookConfig::default())
        .await
        .expect("open the webhook service");
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = format!("http://{}", listener.local_addr().unwrap());
    let shutdown = CancellationToken::new();
    let server = tokio::spawn(service.run(listener, bus, shutdown.clone()));
    let mut client = WebhookServiceClient::new(latchkey_server::connect(&address, &MeshAuth::new(TOKEN)).unwrap());

    let unknown = answers(&mut client, EndpointId::new().as_str()).await;
    assert!(
        unknown.iter().all(|(_, code, _)| *code == Code::NotFound),
        "{unknown:?}"
    );
    let long = format!("whe_{}", "a".repeat(65));
    for malformed in ["whe_*", "whe_>", "whe_a.b", "msg_1", "WHE_1", "whe_", "", long.as_str()] {
        assert_eq!(answers(&mut client, malformed).await, unknown, "{malformed:?}");
    }

    // A known endpoint with a malformed message id: the message is not found, as an unknown one.
    let created = client
        .create_endpoint(ask(pb::CreateEndpointRequest {
            url: "https://hooks.example.com/in".to_owned(),
            events: vec!["token.issued".to_owned()],
            description: None,
        }))
        .await
        .expect("create an endpoint")
        .into_inner();
    let endpoint_id = created.endpoint.expect("the endpoint").id;
    let unknown_message = retry(&mut client, &endpoint_id, MessageId::new().as_str()).await;
    assert_eq!(unknown_message.code(), Code::NotFound);
    for malformed in ["msg_*", "msg_a.b", "whe_1", ""] {
        let answer = retry(&mut client, &endpoint_id, malformed).await;
        assert_eq!(answer.code(), unknown_message.code(), "{malformed:?}");
        assert_eq!(
            ApiError::from_status(&answer),
            ApiError::from_status(&unknown_message),
            "{malformed:?}"
        );
    }

    shutdown.cancel();
    server.await.unwrap().expect("the service stops cleanly");
}
