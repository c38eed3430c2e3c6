//! An account looks at the provider catalogue (GitHub ready, Google listed but not configured),
//! allows its app's redirect URI, and starts a connection: the authorization URL sends the end
//! user to GitHub with the deployment's client id and Latchkey's callback. Nothing of it is seen
//! by another account. (The whole flow against a real provider is the mesh suite's `oauth`.)

use latchkey_proto::oauth::v1::{
    CreateSessionRequest, GetRedirectUrisRequest, ListProvidersRequest, SetRedirectUrisRequest,
};
use latchkey_storage::Backend;
use latchkey_test_support::{BACKENDS, mesh::as_account};

use crate::support::{GITHUB_CLIENT_ID, TestOauth};

const ACCOUNT: &str = "acct_oauth_story";
const APP_CALLBACK: &str = "https://app.example/oauth/done";

async fn an_account_starts_a_github_connection(backend: Backend) {
    let mut oauth = TestOauth::start(backend).await;
    let providers = oauth
        .client
        .list_providers(as_account(ACCOUNT, ListProvidersRequest {}))
        .await
        .expect("the catalogue")
        .into_inner()
        .providers;
    let configured = |code: &str| providers.iter().find(|p| p.code == code).map(|p| p.configured);
    assert_eq!(configured("github"), Some(true));
    assert_eq!(configured("google"), Some(false), "listed, without client credentials");

    oauth
        .client
        .set_redirect_uris(as_account(
            ACCOUNT,
            SetRedirectUrisRequest {
                redirect_uris: vec![APP_CALLBACK.to_owned()],
            },
        ))
        .await
        .expect("allow the app's callback");
    let allowed = oauth
        .client
        .get_redirect_uris(as_account(ACCOUNT, GetRedirectUrisRequest {}))
        .await
        .expect("the allowed redirect URIs")
        .into_inner()
        .redirect_uris;
    assert_eq!(allowed, [APP_CALLBACK]);

    let session = oauth
        .client
        .create_session(as_account(
            ACCOUNT,
            CreateSessionRequest {
                provider: "github".to_owned(),
                redirect_uri: APP_CALLBACK.to_owned(),
                end_user_id: "user_42".to_owned(),
                ..CreateSessionRequest::default()
            },
        ))
        .await
        .expect("start a connection")
        .into_inner();
    let url = reqwest::Url::parse(&session.url).expect("an authorization URL");
    assert_eq!(url.host_str(), Some("github.com"), "{url}");
    let query: std::collections::HashMap<_, _> = url.query_pairs().into_owned().collect();
    assert_eq!(query.get("client_id").map(String::as_str), Some(GITHUB_CLIENT_ID));
    assert_eq!(
        query.get("redirect_uri").map(String::as_str),
        Some("https://latchkey.example/oauth/callback")
    );
    assert!(query.get("state").is_some_and(|state| !state.is_empty()), "{url}");

    // No connection until the end user comes back; another account sees none of this.
    let connections = oauth.connections_of(ACCOUNT).await;
    assert!(connections.is_empty(), "{connections:?}");
    let elsewhere = oauth
        .client
        .get_redirect_uris(as_account("acct_other", GetRedirectUrisRequest {}))
        .await
        .expect("another account's redirect URIs")
        .into_inner()
        .redirect_uris;
    assert!(elsewhere.is_empty(), "{elsewhere:?}");
}

#[tokio::test]
async fn an_account_starts_a_github_connection_on_each_backend() {
    for backend in BACKENDS {
        an_account_starts_a_github_connection(backend).await;
    }
}
