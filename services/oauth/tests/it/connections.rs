//! An end user connects an account to a real OpenID Connect provider (npm `oidc-provider`) through
//! the oauth service alone: the session's URL sends them to the provider, the callback stores the
//! connection, `FetchToken` hands out the access token (refreshed first when it is close to expiry),
//! and `Disconnect` revokes it at the provider. Another account sees none of it, and a callback
//! replayed after it was used connects nothing.

use latchkey_oauth::{ClientCredentials, OauthConfig};
use latchkey_proto::oauth::v1::{
    CompleteCallbackRequest, CompleteCallbackResponse, CreateSessionRequest, DisconnectRequest, FetchTokenRequest,
};
use latchkey_storage::Backend;
use latchkey_test_support::{
    BACKENDS,
    mesh::as_account,
    oidc_peer::{CLIENT_ID, CLIENT_SECRET, OidcPeer},
};
use tonic::Code;

use crate::support::TestOauth;

const ACCOUNT: &str = "acct_connects";
const OTHER_ACCOUNT: &str = "acct_someone_else";
/// Where the provider sends the browser back; the end user's browser stops there (nothing listens:
/// the test hands the callback's query to the service as the gateway would).
const CALLBACK: &str = "http://127.0.0.1:9/oauth/callback";

async fn start(backend: Backend) -> (OidcPeer, TestOauth) {
    let peer = OidcPeer::start().await;
    peer.register_client(&[CALLBACK]).await;
    let config = OauthConfig {
        callback_url: CALLBACK.to_owned(),
        oidc_discovery_url: peer.discovery_url(),
        clients: [(
            "oidc".to_owned(),
            ClientCredentials {
                client_id: CLIENT_ID.to_owned(),
                client_secret: CLIENT_SECRET.to_owned(),
            },
        )]
        .into(),
        ..OauthConfig::default()
    };
    (peer, TestOauth::start_with(backend, config).await)
}

/// The query the provider sent the browser back with.
fn callback_query(back: &str) -> CompleteCallbackRequest {
    assert!(back.starts_with(CALLBACK), "the provider sent the browser to {back}");
    let url = reqwest::Url::parse(back).expect("a URL");
    let param = |name: &str| {
        url.query_pairs()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.into_owned())
            .unwrap_or_default()
    };
    CompleteCallbackRequest {
        state: param("state"),
        code: param("code"),
        error: param("error"),
        error_description: param("error_description"),
    }
}

/// A session for the account's connection to `oidc`: the URL the end user is sent to.
async fn start_session(oauth: &mut TestOauth) -> String {
    let request = CreateSessionRequest {
        provider: "oidc".to_owned(),
        ..CreateSessionRequest::default()
    };
    oauth
        .client
        .create_session(as_account(ACCOUNT, request))
        .await
        .expect("a session")
        .into_inner()
        .url
}

async fn complete(oauth: &mut TestOauth, callback: CompleteCallbackRequest) -> CompleteCallbackResponse {
    // The callback carries no account: the session's state says whose it is.
    oauth
        .client
        .complete_callback(as_account(ACCOUNT, callback))
        .await
        .expect("the callback is answered")
        .into_inner()
}

async fn fetch(oauth: &mut TestOauth, account: &str) -> Result<String, tonic::Status> {
    let request = FetchTokenRequest {
        provider: "oidc".to_owned(),
        end_user_id: String::new(),
    };
    Ok(oauth
        .client
        .fetch_token(as_account(account, request))
        .await?
        .into_inner()
        .access_token)
}

async fn an_end_user_connects_and_the_service_keeps_the_token(backend: Backend) {
    let (peer, mut oauth) = start(backend).await;
    // The first token is already within the refresh margin (60 s); the refreshed one lasts an hour.
    peer.set_access_token_ttl(30).await;
    let authorization_url = start_session(&mut oauth).await;
    let back = peer.authorize(&authorization_url, "alice", true).await;
    let callback = callback_query(&back);
    let outcome = complete(&mut oauth, callback.clone()).await;
    assert_eq!(outcome.outcome, "connected", "{}", outcome.message);
    assert!(outcome.connection_id.starts_with("conn_"), "{}", outcome.connection_id);
    peer.set_access_token_ttl(3600).await;

    let replayed = complete(&mut oauth, callback).await;
    assert_ne!(replayed.outcome, "connected", "a used state connects nothing again");
    assert_eq!(
        peer.stats().await["codeExchanges"],
        1,
        "a replayed code is never exchanged"
    );

    let first = fetch(&mut oauth, ACCOUNT).await.expect("a token");
    assert_eq!(peer.refreshes().await, 1, "a token close to expiry is refreshed first");
    assert_eq!(
        fetch(&mut oauth, ACCOUNT).await.expect("a token"),
        first,
        "a valid token is served as stored"
    );
    assert_eq!(peer.refreshes().await, 1);

    let status = fetch(&mut oauth, OTHER_ACCOUNT)
        .await
        .expect_err("another account's connection");
    assert_eq!(status.code(), Code::NotFound);
    let others = oauth.connections_of(OTHER_ACCOUNT).await;
    assert!(others.is_empty(), "{others:?}");

    let gone = oauth
        .client
        .disconnect(as_account(
            ACCOUNT,
            DisconnectRequest {
                provider: "oidc".to_owned(),
                end_user_id: String::new(),
            },
        ))
        .await
        .expect("disconnect")
        .into_inner();
    assert_eq!(gone.connection_id, outcome.connection_id);
    assert!(gone.revoked_at_provider);
    assert_eq!(peer.stats().await["revocations"], 1);
    let status = fetch(&mut oauth, ACCOUNT).await.expect_err("disconnected");
    assert_eq!(status.code(), Code::NotFound);
}

#[tokio::test]
async fn an_end_user_connects_and_the_service_keeps_the_token_on_each_backend() {
    for backend in BACKENDS {
        an_end_user_connects_and_the_service_keeps_the_token(backend).await;
    }
}

/// The end user refuses at the provider: the callback says so and nothing is connected.
#[tokio::test]
async fn an_end_user_who_refuses_connects_nothing() {
    let (peer, mut oauth) = start(Backend::Sqlite).await;
    let authorization_url = start_session(&mut oauth).await;
    let back = peer.authorize(&authorization_url, "alice", false).await;
    let outcome = complete(&mut oauth, callback_query(&back)).await;
    assert_eq!(outcome.outcome, "access_denied", "{}", outcome.message);
    assert_eq!(peer.stats().await["codeExchanges"], 0);
    let status = fetch(&mut oauth, ACCOUNT).await.expect_err("nothing connected");
    assert_eq!(status.code(), Code::NotFound);
}
