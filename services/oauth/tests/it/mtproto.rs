//! Telegram MTProto sessions: stored (session string, api id, api hash) for one account in the
//! vault, answered by `FetchToken` as Akhrot documents it (`type: mtproto`), shown masked
//! otherwise, refused field by field when malformed, and reached by no other account. A session
//! string stored alone (before these routes) is still served with the deployment's api id and hash.

use latchkey_oauth::{ClientCredentials, OauthConfig};
use latchkey_proto::{
    oauth::v1::{DeleteMtprotoSessionRequest, FetchTokenRequest, GetMtprotoSessionRequest, SetMtprotoSessionRequest},
    vault::v1::{ListSecretsRequest, PutSecretRequest},
};
use latchkey_server::MeshAuth;
use latchkey_storage::Backend;
use latchkey_test_support::{BACKENDS, mesh::as_account};
use tonic::Code;

use crate::support::{MESH_TOKEN, TestOauth};

const ACCOUNT: &str = "acct_telegram_owner";
const OTHER: &str = "acct_telegram_other";
const SESSION: &str = "1BVtsOKABu3nCanary-session-9xm_5JqQ0Hq8ZKX1c2VvbG9uZ3N0cmluZw==";
const API_HASH: &str = "0123456789abcdef0123456789abcdef";

fn set(session: &str, api_id: &str, api_hash: &str) -> SetMtprotoSessionRequest {
    SetMtprotoSessionRequest {
        provider: "telegram".to_owned(),
        session_string: session.to_owned(),
        api_id: api_id.to_owned(),
        api_hash: api_hash.to_owned(),
    }
}

fn fetch() -> FetchTokenRequest {
    FetchTokenRequest {
        provider: "telegram".to_owned(),
        end_user_id: String::new(),
    }
}

fn telegram() -> GetMtprotoSessionRequest {
    GetMtprotoSessionRequest {
        provider: "telegram".to_owned(),
    }
}

/// What `FetchToken` answers the account for telegram: access token, api id, api hash, type.
async fn fetched_mtproto(oauth: &TestOauth) -> [String; 4] {
    let fetched = oauth
        .client
        .clone()
        .fetch_token(as_account(ACCOUNT, fetch()))
        .await
        .expect("fetched")
        .into_inner();
    [fetched.access_token, fetched.api_id, fetched.api_hash, fetched.r#type]
}

async fn a_session_is_kept_answered_and_reached_by_its_account_only(backend: Backend) {
    let mut oauth = TestOauth::start(backend).await;
    let stored = oauth
        .client
        .set_mtproto_session(as_account(ACCOUNT, set(SESSION, "123456", API_HASH)))
        .await
        .expect("stored")
        .into_inner();
    assert_eq!(
        (
            stored.provider.as_str(),
            stored.api_id.as_str(),
            stored.api_hash_last4.as_str()
        ),
        ("telegram", "123456", "cdef")
    );
    assert!(stored.updated_at_ms > 0);
    let shown = format!("{stored:?}");
    assert!(!shown.contains("Canary") && !shown.contains(API_HASH), "{shown}");

    assert_eq!(fetched_mtproto(&oauth).await, [SESSION, "123456", API_HASH, "mtproto"]);
    let got = oauth
        .client
        .get_mtproto_session(as_account(ACCOUNT, telegram()))
        .await
        .expect("summary")
        .into_inner();
    assert_eq!(got, stored);

    // The vault's own metadata shows no part of a secret: the api id ends the stored JSON.
    let listed = oauth
        .vault
        .client(&MeshAuth::new(MESH_TOKEN))
        .list_secrets(as_account(
            ACCOUNT,
            ListSecretsRequest {
                prefix: "credential/".to_owned(),
            },
        ))
        .await
        .expect("the vault's list")
        .into_inner()
        .secrets;
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].secret_id, "credential/telegram");
    assert_eq!(listed[0].last4, "56\"}");

    // Another account reaches none of it.
    let other = oauth
        .client
        .fetch_token(as_account(OTHER, fetch()))
        .await
        .expect_err("none");
    assert_eq!(other.code(), Code::NotFound);
    let other = oauth
        .client
        .get_mtproto_session(as_account(OTHER, telegram()))
        .await
        .expect_err("none");
    assert_eq!(other.code(), Code::NotFound);
    let other = oauth
        .client
        .delete_mtproto_session(as_account(
            OTHER,
            DeleteMtprotoSessionRequest {
                provider: "telegram".to_owned(),
            },
        ))
        .await
        .expect_err("none");
    assert_eq!(other.code(), Code::NotFound);

    // Replaced, then removed.
    let replaced = oauth
        .client
        .set_mtproto_session(as_account(
            ACCOUNT,
            set("1AnotherSession_0", "7", &API_HASH.to_ascii_uppercase()),
        ))
        .await
        .expect("replaced")
        .into_inner();
    assert_eq!(
        (replaced.api_id.as_str(), replaced.api_hash_last4.as_str()),
        ("7", "cdef")
    );
    let fetched = oauth
        .client
        .fetch_token(as_account(ACCOUNT, fetch()))
        .await
        .expect("fetched")
        .into_inner();
    assert_eq!(
        (fetched.access_token.as_str(), fetched.api_hash.as_str()),
        ("1AnotherSession_0", API_HASH),
        "the hash is kept in lower case"
    );
    oauth
        .client
        .delete_mtproto_session(as_account(
            ACCOUNT,
            DeleteMtprotoSessionRequest {
                provider: "telegram".to_owned(),
            },
        ))
        .await
        .expect("removed");
    let gone = oauth
        .client
        .fetch_token(as_account(ACCOUNT, fetch()))
        .await
        .expect_err("gone");
    assert_eq!(gone.code(), Code::NotFound);
}

#[tokio::test]
async fn a_session_is_kept_answered_and_reached_by_its_account_only_on_each_backend() {
    for backend in BACKENDS {
        a_session_is_kept_answered_and_reached_by_its_account_only(backend).await;
    }
}

#[tokio::test]
async fn every_field_is_checked_and_nothing_is_stored_when_one_is_wrong() {
    let mut oauth = TestOauth::start(Backend::Sqlite).await;
    let long = "s".repeat(latchkey_oauth::MAX_SESSION_STRING_LEN + 1);
    let cases = [
        (set("", "123", API_HASH), "sessionString"),
        (set(&long, "123", API_HASH), "sessionString"),
        (set("has space", "123", API_HASH), "sessionString"),
        (set("line\nbreak", "123", API_HASH), "sessionString"),
        (set(SESSION, "", API_HASH), "apiId"),
        (set(SESSION, "0", API_HASH), "apiId"),
        (set(SESSION, "-5", API_HASH), "apiId"),
        (set(SESSION, "12ab", API_HASH), "apiId"),
        (set(SESSION, "2147483648", API_HASH), "apiId"),
        (set(SESSION, "123", ""), "apiHash"),
        (set(SESSION, "123", &API_HASH[1..]), "apiHash"),
        (set(SESSION, "123", &format!("{API_HASH}0")), "apiHash"),
        (set(SESSION, "123", "zz23456789abcdef0123456789abcdef"), "apiHash"),
    ];
    for (request, field) in cases {
        let refused = oauth
            .client
            .set_mtproto_session(as_account(ACCOUNT, request.clone()))
            .await
            .expect_err("refused");
        assert_eq!(refused.code(), Code::InvalidArgument, "{request:?}");
        let problem = latchkey_errors::ApiError::from_status(&refused);
        assert_eq!(problem.errors[0].field, field, "{request:?}");
        assert!(!problem.message.contains("Canary"), "no secret echoed");
    }
    for provider in ["github", "openai", "nope"] {
        let mut request = set(SESSION, "123", API_HASH);
        request.provider = provider.to_owned();
        let refused = oauth
            .client
            .set_mtproto_session(as_account(ACCOUNT, request))
            .await
            .expect_err("not an MTProto provider");
        assert_eq!(
            latchkey_errors::ApiError::from_status(&refused).errors[0].field,
            "provider"
        );
    }
    let none = oauth
        .client
        .fetch_token(as_account(ACCOUNT, fetch()))
        .await
        .expect_err("nothing stored");
    assert_eq!(none.code(), Code::NotFound);
    let refused = oauth
        .client
        .set_mtproto_session(as_account("acct_*", set(SESSION, "123", API_HASH)))
        .await
        .expect_err("no account");
    assert_eq!(refused.code(), Code::Unauthenticated);
}

/// A session string stored alone, as before these routes, is served with the deployment's app.
#[tokio::test]
async fn a_session_string_stored_alone_takes_the_deployments_api_id_and_hash() {
    let config = OauthConfig {
        callback_url: "https://latchkey.example/oauth/callback".to_owned(),
        clients: [(
            "telegram".to_owned(),
            ClientCredentials {
                client_id: "424242".to_owned(),
                client_secret: "fedcba9876543210fedcba9876543210".to_owned(),
            },
        )]
        .into(),
        ..OauthConfig::default()
    };
    let oauth = TestOauth::start_with(Backend::Sqlite, config).await;
    oauth
        .vault
        .client(&MeshAuth::new(MESH_TOKEN))
        .put_secret(as_account(
            ACCOUNT,
            PutSecretRequest {
                secret_id: "credential/telegram".to_owned(),
                plaintext: b"1LegacySessionString==".to_vec(),
                ..PutSecretRequest::default()
            },
        ))
        .await
        .expect("a legacy session");
    assert_eq!(
        fetched_mtproto(&oauth).await,
        [
            "1LegacySessionString==",
            "424242",
            "fedcba9876543210fedcba9876543210",
            "mtproto"
        ]
    );
}
