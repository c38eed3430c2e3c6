//! What an account keeps here (its allowed redirect URIs, its own OAuth apps, its API-key
//! credentials and connections) is reached in that account only. The account is the mesh
//! caller's, parsed from the call's metadata: text that is no account id (a wildcard, a dot,
//! another kind's id, an overlong string) is refused before anything is read or written.

use latchkey_ids::OAuthSessionId;
use latchkey_proto::{
    oauth::v1::{
        CreateSessionRequest, DeleteOauthAppRequest, DisconnectRequest, FetchTokenRequest, ListOauthAppsRequest,
        SetOauthAppRequest, SetRedirectUrisRequest,
    },
    vault::v1::PutSecretRequest,
};
use latchkey_server::MeshAuth;
use latchkey_storage::{Backend, Db, sqlx};
use latchkey_test_support::{BACKENDS, mesh::as_account};
use tonic::Code;

use crate::support::{MESH_TOKEN, TestOauth};

const ACCOUNT: &str = "acct_oauth_owner";
const OTHER: &str = "acct_oauth_other";
const APP_CALLBACK: &str = "https://app.example/oauth/done";

fn fetch(provider: &str) -> FetchTokenRequest {
    FetchTokenRequest {
        provider: provider.to_owned(),
        end_user_id: String::new(),
    }
}

async fn one_account_reaches_nothing_of_another(backend: Backend) {
    let mut oauth = TestOauth::start(backend).await;
    // The account's API key, as the gateway's PUT /credentials stores it.
    oauth
        .vault
        .client(&MeshAuth::new(MESH_TOKEN))
        .put_secret(as_account(
            ACCOUNT,
            PutSecretRequest {
                secret_id: "credential/mongodb".to_owned(),
                plaintext: b"mongodb-key-of-the-owner-0001".to_vec(),
                ..PutSecretRequest::default()
            },
        ))
        .await
        .expect("store the owner's API key");
    let fetched = oauth
        .client
        .fetch_token(as_account(ACCOUNT, fetch("mongodb")))
        .await
        .expect("the owner's API key")
        .into_inner();
    assert_eq!(
        (
            fetched.access_token.as_str(),
            fetched.r#type.as_str(),
            fetched.connection_id.as_str()
        ),
        ("mongodb-key-of-the-owner-0001", "api_key", "")
    );
    let elsewhere = oauth
        .client
        .fetch_token(as_account(OTHER, fetch("mongodb")))
        .await
        .expect_err("another account's API key");
    assert_eq!(elsewhere.code(), Code::NotFound);

    // The account's own OAuth app.
    oauth
        .client
        .set_oauth_app(as_account(
            ACCOUNT,
            SetOauthAppRequest {
                provider: "github".to_owned(),
                client_id: "owner-own-client".to_owned(),
                client_secret: "owner-own-secret-value-1234".to_owned(),
            },
        ))
        .await
        .expect("register the owner's app");
    let others = oauth
        .client
        .list_oauth_apps(as_account(OTHER, ListOauthAppsRequest {}))
        .await
        .expect("another account's apps")
        .into_inner()
        .apps;
    assert!(others.is_empty(), "{others:?}");
    let deleted = oauth
        .client
        .delete_oauth_app(as_account(
            OTHER,
            DeleteOauthAppRequest {
                provider: "github".to_owned(),
            },
        ))
        .await
        .expect_err("another account's app");
    assert_eq!(deleted.code(), Code::NotFound);
    let owned = oauth
        .client
        .list_oauth_apps(as_account(ACCOUNT, ListOauthAppsRequest {}))
        .await
        .expect("the owner's apps")
        .into_inner()
        .apps;
    assert_eq!(
        owned.iter().map(|app| app.client_id.as_str()).collect::<Vec<_>>(),
        ["owner-own-client"]
    );

    // A session is minted with a typed id; no connection exists anywhere until a callback.
    let session = oauth
        .client
        .create_session(as_account(
            ACCOUNT,
            CreateSessionRequest {
                provider: "github".to_owned(),
                ..CreateSessionRequest::default()
            },
        ))
        .await
        .expect("start a connection")
        .into_inner();
    assert!(OAuthSessionId::parse(&session.session_id).is_ok(), "{session:?}");
    let disconnected = oauth
        .client
        .disconnect(as_account(
            OTHER,
            DisconnectRequest {
                provider: "github".to_owned(),
                end_user_id: String::new(),
            },
        ))
        .await
        .expect_err("no connection of another account");
    assert_eq!(disconnected.code(), Code::NotFound);
    let connections = oauth.connections_of(OTHER).await;
    assert!(connections.is_empty(), "{connections:?}");
}

#[tokio::test]
async fn one_account_reaches_nothing_of_another_on_each_backend() {
    for backend in BACKENDS {
        one_account_reaches_nothing_of_another(backend).await;
    }
}

async fn a_caller_naming_no_account_is_refused_and_writes_nothing(backend: Backend) {
    let mut oauth = TestOauth::start(backend).await;
    let overlong = format!("acct_{}", "a".repeat(200));
    let named = [
        "acct_*",
        "acct_>",
        "acct_a.b",
        "ACCT_A",
        "agent_0123456789abcdef",
        "_system_",
        overlong.as_str(),
    ];
    for account in named {
        let refused = oauth
            .client
            .set_redirect_uris(as_account(
                account,
                SetRedirectUrisRequest {
                    redirect_uris: vec![APP_CALLBACK.to_owned()],
                },
            ))
            .await
            .expect_err("no account");
        assert_eq!(refused.code(), Code::Unauthenticated, "{account}");
        let refused = oauth
            .client
            .create_session(as_account(
                account,
                CreateSessionRequest {
                    provider: "github".to_owned(),
                    ..CreateSessionRequest::default()
                },
            ))
            .await
            .expect_err("no account");
        assert_eq!(refused.code(), Code::Unauthenticated, "{account}");
        let refused = oauth
            .client
            .set_oauth_app(as_account(
                account,
                SetOauthAppRequest {
                    provider: "github".to_owned(),
                    client_id: "some-client".to_owned(),
                    client_secret: "some-secret-value-1234".to_owned(),
                },
            ))
            .await
            .expect_err("no account");
        assert_eq!(refused.code(), Code::Unauthenticated, "{account}");
    }
    let db = Db::connect(oauth.database.url()).await.expect("the oauth database");
    for table in ["oauth_redirect_uris", "oauth_sessions", "oauth_connections"] {
        let (rows,): (i64,) = sqlx::query_as(sqlx::AssertSqlSafe(format!("SELECT COUNT(*) FROM {table}")))
            .fetch_one(db.pool())
            .await
            .expect("count the rows");
        assert_eq!(rows, 0, "{table}");
    }
}

#[tokio::test]
async fn a_caller_naming_no_account_is_refused_and_writes_nothing_on_each_backend() {
    for backend in BACKENDS {
        a_caller_naming_no_account_is_refused_and_writes_nothing(backend).await;
    }
}
