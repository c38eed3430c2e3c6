//! Where a session may send the end user back: without an allow-list, an https URI (or http on a
//! loopback host) named at session creation, bound to the session so the callback redirects there
//! and nowhere else; once the account keeps a list, only its URIs, exactly.

use latchkey_proto::oauth::v1::{CompleteCallbackRequest, CreateSessionRequest, SessionFlow, SetRedirectUrisRequest};
use latchkey_storage::{Backend, Db, sqlx};
use latchkey_test_support::{BACKENDS, mesh::as_account};
use tonic::Code;

use crate::support::TestOauth;

const ACCOUNT: &str = "acct_redirects";

fn session(redirect_uri: &str) -> CreateSessionRequest {
    CreateSessionRequest {
        provider: "github".to_owned(),
        redirect_uri: redirect_uri.to_owned(),
        ..CreateSessionRequest::default()
    }
}

async fn create(oauth: &mut TestOauth, request: CreateSessionRequest) -> Result<String, tonic::Status> {
    Ok(oauth
        .client
        .create_session(as_account(ACCOUNT, request))
        .await?
        .into_inner()
        .url)
}

fn field_of(status: &tonic::Status) -> String {
    latchkey_errors::ApiError::from_status(status)
        .errors
        .first()
        .map(|error| error.field.clone())
        .unwrap_or_default()
}

async fn a_session_binds_the_redirect_uri_it_was_given(backend: Backend) {
    let mut oauth = TestOauth::start(backend).await;
    for uri in [
        "https://yourapp.com/callback",
        "http://127.0.0.1:8765/callback",
        "http://[::1]:8765/cb",
        "http://localhost:3000/cb",
    ] {
        create(&mut oauth, session(uri))
            .await
            .unwrap_or_else(|e| panic!("{uri}: {e:?}"));
    }
    let overlong = format!("https://app.example/{}", "a".repeat(2048));
    for uri in [
        "javascript:alert(document.cookie)",
        "http://yourapp.com/callback",
        "https://yourapp.com/callback#frag",
        "https://admin:secret@yourapp.com/callback",
        "yourapp.com/callback",
        overlong.as_str(),
    ] {
        let refused = create(&mut oauth, session(uri)).await.expect_err(uri);
        assert_eq!(refused.code(), Code::InvalidArgument, "{uri}");
        assert_eq!(field_of(&refused), "redirectUri", "{uri}");
    }
    // The same rule for AGNT's flow, whose provider is given the URI itself.
    let exchange = CreateSessionRequest {
        flow: SessionFlow::Exchange.into(),
        ..session("http://yourapp.com/callback")
    };
    assert_eq!(
        field_of(&create(&mut oauth, exchange).await.expect_err("http")),
        "redirectUri"
    );

    // The session keeps the URI; the callback can only send the end user there. (A state that
    // names the session is only in the provider's URL: read it from there.)
    let url = create(&mut oauth, session("https://yourapp.com/callback?from=session"))
        .await
        .expect("a session");
    let state = reqwest::Url::parse(&url)
        .expect("url")
        .query_pairs()
        .find(|(k, _)| k == "state")
        .map(|(_, v)| v.into_owned())
        .expect("state");
    let outcome = oauth
        .client
        .complete_callback(tonic::Request::new(CompleteCallbackRequest {
            state,
            error: "access_denied".to_owned(),
            ..CompleteCallbackRequest::default()
        }))
        .await
        .expect("answered")
        .into_inner();
    assert!(
        outcome
            .redirect_to
            .starts_with("https://yourapp.com/callback?from=session&provider=github&status=error"),
        "{}",
        outcome.redirect_to
    );

    // Once the account keeps a list, only its URIs are taken.
    oauth
        .client
        .set_redirect_uris(as_account(
            ACCOUNT,
            SetRedirectUrisRequest {
                redirect_uris: vec!["http://app.internal/cb".to_owned()],
            },
        ))
        .await
        .expect("a list");
    let refused = create(&mut oauth, session("https://yourapp.com/callback"))
        .await
        .expect_err("not listed");
    assert_eq!(field_of(&refused), "redirectUri");
    create(&mut oauth, session("http://app.internal/cb"))
        .await
        .expect("the account allowed it itself");
    create(&mut oauth, session("")).await.expect("none at all");
    let db = Db::connect(oauth.database.url()).await.expect("the oauth database");
    let (bound,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM oauth_sessions WHERE redirect_uri = $1")
        .bind("http://app.internal/cb")
        .fetch_one(db.pool())
        .await
        .expect("count");
    assert_eq!(bound, 1);
}

#[tokio::test]
async fn a_session_binds_the_redirect_uri_it_was_given_on_each_backend() {
    for backend in BACKENDS {
        a_session_binds_the_redirect_uri_it_was_given(backend).await;
    }
}
