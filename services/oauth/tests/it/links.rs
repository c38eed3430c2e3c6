//! Connect links through the oauth service alone, against a real OpenID Connect provider: a link
//! minted for one account starts, once, the authorization it was minted for, in that account; the
//! end user authorizes at the provider and the connection lands in the minting account (AGNT's
//! exchange flow, or the callback flow). A used, expired, unknown or misdirected link starts
//! nothing, and only the token's hash is kept.

use latchkey_oauth::{ClientCredentials, OauthConfig};
use latchkey_proto::oauth::v1::{
    CompleteCallbackRequest, ConnectLink, CreateConnectLinkRequest, CreateSessionResponse, ExchangeCodeRequest,
    OpenConnectLinkRequest, SessionFlow, SetRedirectUrisRequest,
};
use latchkey_storage::{Backend, Db, sqlx};
use latchkey_test_support::{
    BACKENDS,
    mesh::as_account,
    oidc_peer::{CLIENT_ID, CLIENT_SECRET, OidcPeer},
};
use sha2::{Digest, Sha256};
use tonic::Code;

use crate::support::TestOauth;

const ACCOUNT: &str = "acct_links_owner";
const OTHER: &str = "acct_links_other";
/// The gateway's callback (callback flow); nothing listens, the test hands its query over.
const CALLBACK: &str = "http://127.0.0.1:9/oauth/callback";
/// The client's own callback (exchange flow).
const CLIENT_CALLBACK: &str = "https://app.example/oauth/done";

async fn start(backend: Backend, adjust: impl FnOnce(&mut OauthConfig)) -> (OidcPeer, TestOauth) {
    let peer = OidcPeer::start().await;
    peer.register_client(&[CALLBACK, CLIENT_CALLBACK]).await;
    let mut config = OauthConfig {
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
    adjust(&mut config);
    (peer, TestOauth::start_with(backend, config).await)
}

fn link_request(end_user: &str, flow: SessionFlow, redirect_uri: &str) -> CreateConnectLinkRequest {
    CreateConnectLinkRequest {
        provider: "oidc".to_owned(),
        end_user_id: end_user.to_owned(),
        redirect_uri: redirect_uri.to_owned(),
        scopes: Vec::new(),
        flow: flow.into(),
    }
}

async fn mint(
    oauth: &mut TestOauth,
    account: &str,
    request: CreateConnectLinkRequest,
) -> Result<ConnectLink, tonic::Status> {
    Ok(oauth
        .client
        .create_connect_link(as_account(account, request))
        .await?
        .into_inner())
}

/// Opens a link as the gateway does for a browser: no account, only the token.
async fn open(oauth: &TestOauth, provider: &str, token: &str) -> Result<CreateSessionResponse, tonic::Status> {
    let request = tonic::Request::new(OpenConnectLinkRequest {
        provider: provider.to_owned(),
        token: token.to_owned(),
    });
    Ok(oauth.client.clone().open_connect_link(request).await?.into_inner())
}

fn query(url: &str) -> std::collections::HashMap<String, String> {
    reqwest::Url::parse(url)
        .expect("a URL")
        .query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

/// A problem's code and message, from a refused call.
fn problem(status: &tonic::Status) -> latchkey_errors::ApiError {
    latchkey_errors::ApiError::from_status(status)
}

async fn a_link_starts_its_authorization_once_in_its_account(backend: Backend) {
    let (peer, mut oauth) = start(backend, |_| {}).await;
    // No allow-list: an https redirect URI named at minting is taken, and bound.
    let link = mint(
        &mut oauth,
        ACCOUNT,
        link_request("user-42", SessionFlow::Exchange, CLIENT_CALLBACK),
    )
    .await
    .expect("a link");
    assert!(link.id.starts_with("clink_"), "{}", link.id);
    assert_eq!(link.token.len(), latchkey_oauth::CONNECT_LINK_TOKEN_LEN);
    assert_eq!(
        (
            link.provider.as_str(),
            link.end_user_id.as_str(),
            link.redirect_uri.as_str(),
            link.flow.as_str()
        ),
        ("oidc", "user-42", CLIENT_CALLBACK, "exchange")
    );
    assert_eq!(link.expires_at_ms - link.created_at_ms, 600_000);

    // Only the token's SHA-256 is kept.
    let db = Db::connect(oauth.database.url()).await.expect("the oauth database");
    let rows: Vec<(String, String, String)> =
        sqlx::query_as("SELECT token_hash, id, account_id FROM oauth_connect_links")
            .fetch_all(db.pool())
            .await
            .expect("the links");
    assert_eq!(
        rows,
        [(
            hex::encode(Sha256::digest(link.token.as_bytes())),
            link.id.clone(),
            ACCOUNT.to_owned()
        )]
    );

    // Opened at another provider's route: refused, and the link is not used up.
    let elsewhere = open(&oauth, "github", &link.token)
        .await
        .expect_err("not github's link");
    assert_eq!(elsewhere.code(), Code::InvalidArgument);
    assert_eq!(problem(&elsewhere).errors[0].field, "provider");

    let session = open(&oauth, "oidc", &link.token).await.expect("the link opens");
    assert!(session.url.starts_with(&peer.issuer), "{}", session.url);
    let asked = query(&session.url);
    assert_eq!(asked["redirect_uri"], CLIENT_CALLBACK);
    assert_eq!(asked["code_challenge_method"], "S256");

    let again = open(&oauth, "oidc", &link.token).await.expect_err("single use");
    assert_eq!(problem(&again).code, latchkey_errors::ErrorCode::SessionExpired);
    assert!(
        problem(&again).message.contains("already used"),
        "{}",
        problem(&again).message
    );

    // The provider sends the end user to the client, whose backend exchanges the code.
    let back = peer.authorize(&session.url, "alice", true).await;
    assert!(back.starts_with(CLIENT_CALLBACK), "{back}");
    let back = query(&back);
    let exchange = |account: &str| {
        as_account(
            account,
            ExchangeCodeRequest {
                code: back["code"].clone(),
                provider: "oidc".to_owned(),
                redirect_uri: CLIENT_CALLBACK.to_owned(),
                state: back["state"].clone(),
            },
        )
    };
    // The session is the minting account's: another account's backend cannot take its code.
    let stolen = oauth
        .client
        .exchange_code(exchange(OTHER))
        .await
        .expect_err("not OTHER's");
    assert_eq!(problem(&stolen).code, latchkey_errors::ErrorCode::SessionExpired);
    assert_eq!(peer.stats().await["codeExchanges"], 0);
    let exchanged = oauth
        .client
        .exchange_code(exchange(ACCOUNT))
        .await
        .expect("the owner's exchange")
        .into_inner();
    assert_eq!(exchanged.end_user_id, "user-42");

    let owned = oauth.connections_of(ACCOUNT).await;
    assert_eq!(
        owned
            .iter()
            .map(|c| (c.provider.as_str(), c.end_user_id.as_str(), c.provider_email.as_str()))
            .collect::<Vec<_>>(),
        [("oidc", "user-42", "alice@example.test")]
    );
    assert!(oauth.connections_of(OTHER).await.is_empty());
}

#[tokio::test]
async fn a_link_starts_its_authorization_once_in_its_account_on_each_backend() {
    for backend in BACKENDS {
        a_link_starts_its_authorization_once_in_its_account(backend).await;
    }
}

/// A callback-flow link: Latchkey's callback stores the connection, in the minting account.
#[tokio::test]
async fn a_callback_link_ends_at_the_callback_of_its_account() {
    let (peer, mut oauth) = start(Backend::Sqlite, |_| {}).await;
    let link = mint(&mut oauth, ACCOUNT, link_request("user-7", SessionFlow::Callback, ""))
        .await
        .expect("a link");
    assert_eq!(link.flow, "callback");
    let session = open(&oauth, "oidc", &link.token).await.expect("opens");
    assert_eq!(query(&session.url)["redirect_uri"], CALLBACK);
    let back = peer.authorize(&session.url, "bob", true).await;
    let back = query(&back);
    let outcome = oauth
        .client
        .complete_callback(tonic::Request::new(CompleteCallbackRequest {
            state: back["state"].clone(),
            code: back["code"].clone(),
            ..CompleteCallbackRequest::default()
        }))
        .await
        .expect("the callback")
        .into_inner();
    assert_eq!(outcome.outcome, "connected", "{}", outcome.message);
    assert_eq!(outcome.redirect_to, "", "the link named no redirect URI");
    let owned = oauth.connections_of(ACCOUNT).await;
    assert_eq!(owned.len(), 1);
    assert_eq!(
        (owned[0].end_user_id.as_str(), owned[0].provider_email.as_str()),
        ("user-7", "bob@example.test")
    );
}

async fn expired_unknown_and_racing_links_start_nothing(backend: Backend) {
    let (_peer, mut oauth) = start(backend, |config| config.connect_link_ttl_secs = 0).await;
    let link = mint(
        &mut oauth,
        ACCOUNT,
        link_request("", SessionFlow::Exchange, CLIENT_CALLBACK),
    )
    .await
    .expect("a link");
    let expired = open(&oauth, "oidc", &link.token).await.expect_err("expired");
    assert_eq!(problem(&expired).code, latchkey_errors::ErrorCode::SessionExpired);
    assert!(
        problem(&expired).message.contains("expired"),
        "{}",
        problem(&expired).message
    );
    let overlong = "a".repeat(10_000);
    for token in [
        "",
        "not-a-token",
        "A".repeat(43).as_str(),
        overlong.as_str(),
        "%2e%2e%2f",
    ] {
        let unknown = open(&oauth, "oidc", token).await.expect_err("unknown");
        assert_eq!(
            problem(&unknown).code,
            latchkey_errors::ErrorCode::SessionExpired,
            "{token}"
        );
        assert!(
            problem(&unknown).message.contains("unknown"),
            "{}",
            problem(&unknown).message
        );
    }

    // Two browsers open one link at once: exactly one gets the authorization.
    let (_peer, mut oauth) = start(backend, |_| {}).await;
    let link = mint(
        &mut oauth,
        ACCOUNT,
        link_request("", SessionFlow::Exchange, CLIENT_CALLBACK),
    )
    .await
    .expect("a link");
    let (first, second) = tokio::join!(open(&oauth, "oidc", &link.token), open(&oauth, "oidc", &link.token));
    assert_eq!(
        usize::from(first.is_ok()) + usize::from(second.is_ok()),
        1,
        "{first:?} {second:?}"
    );
    let db = Db::connect(oauth.database.url()).await.expect("the oauth database");
    let (sessions,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM oauth_sessions")
        .fetch_one(db.pool())
        .await
        .expect("count");
    assert_eq!(sessions, 1, "one session for one link");
}

#[tokio::test]
async fn expired_unknown_and_racing_links_start_nothing_on_each_backend() {
    for backend in BACKENDS {
        expired_unknown_and_racing_links_start_nothing(backend).await;
    }
}

/// What a session would refuse is refused when the link is minted, naming the field, and nothing
/// is stored.
#[tokio::test]
async fn minting_refuses_what_a_session_would_refuse() {
    let (_peer, mut oauth) = start(Backend::Sqlite, |_| {}).await;
    let with = |change: &dyn Fn(&mut CreateConnectLinkRequest)| {
        let mut request = link_request("", SessionFlow::Exchange, CLIENT_CALLBACK);
        change(&mut request);
        request
    };
    let cases: Vec<(CreateConnectLinkRequest, &str)> = vec![
        (with(&|r| r.provider = "nope".to_owned()), "provider"),
        (with(&|r| r.provider = "openai".to_owned()), "provider"),
        (with(&|r| r.provider = "telegram".to_owned()), "provider"),
        (with(&|r| r.provider = "google".to_owned()), "provider"),
        (
            with(&|r| r.redirect_uri = "http://app.example/cb".to_owned()),
            "redirectUri",
        ),
        (
            with(&|r| r.redirect_uri = "javascript:alert(1)".to_owned()),
            "redirectUri",
        ),
        (
            with(&|r| r.redirect_uri = "https://app.example/cb#x".to_owned()),
            "redirectUri",
        ),
        (
            with(&|r| r.redirect_uri = "https://u:p@app.example/cb".to_owned()),
            "redirectUri",
        ),
        (with(&|r| r.redirect_uri = String::new()), "redirectUri"),
        (with(&|r| r.end_user_id = "u".repeat(257)), "endUserId"),
        (with(&|r| r.scopes = vec!["has space".to_owned()]), "scopes[0]"),
        (with(&|r| r.scopes = vec!["s".to_owned(); 51]), "scopes"),
    ];
    for (request, field) in cases {
        let refused = mint(&mut oauth, ACCOUNT, request.clone()).await.expect_err("refused");
        assert_eq!(refused.code(), Code::InvalidArgument, "{request:?}");
        assert_eq!(problem(&refused).errors[0].field, field, "{request:?}");
    }
    // Once the account keeps a list, only its URIs are taken.
    oauth
        .client
        .set_redirect_uris(as_account(
            ACCOUNT,
            SetRedirectUrisRequest {
                redirect_uris: vec!["https://app.example/listed".to_owned()],
            },
        ))
        .await
        .expect("a list");
    let unlisted = mint(
        &mut oauth,
        ACCOUNT,
        link_request("", SessionFlow::Exchange, CLIENT_CALLBACK),
    )
    .await
    .expect_err("not listed");
    assert_eq!(problem(&unlisted).errors[0].field, "redirectUri");
    let listed = mint(&mut oauth, ACCOUNT, link_request("", SessionFlow::Exchange, ""))
        .await
        .expect("the account's only URI");
    assert_eq!(listed.redirect_uri, "https://app.example/listed");
    // The other account has no list: its own https URI is fine.
    mint(
        &mut oauth,
        OTHER,
        link_request("", SessionFlow::Exchange, CLIENT_CALLBACK),
    )
    .await
    .expect("another account's link");
    let refused = oauth
        .client
        .create_connect_link(as_account(
            "acct_*",
            link_request("", SessionFlow::Exchange, CLIENT_CALLBACK),
        ))
        .await
        .expect_err("no account");
    assert_eq!(refused.code(), Code::Unauthenticated);

    let db = Db::connect(oauth.database.url()).await.expect("the oauth database");
    let (links,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM oauth_connect_links")
        .fetch_one(db.pool())
        .await
        .expect("count");
    assert_eq!(links, 2, "only the accepted links");
}
