//! Lists are ordered by time, not by id: ids are random (and rows minted before carry a UUIDv7), so
//! a page must go on from the previous page's last (time, id) whatever order the ids sort in.

use latchkey_ids::{AccountId, EndpointId};
use latchkey_server::MeshAuth;
use latchkey_storage::{Backend, Db, sqlx};
use latchkey_test_support::TestDatabase;
use latchkey_webhook::{EndpointInput, Webhook, WebhookConfig, WebhookError};

use crate::support::account;

const ACCOUNT: &str = "acct_paging";

/// Attempts of one endpoint as (attempted_at, id), oldest first: the ids sort in the opposite
/// order, two share a millisecond, and one is an id minted before (a UUIDv7 in hex).
const ATTEMPTS: &[(i64, &str)] = &[
    (1_000, "wha_zzzzzzzzzzzzzzzz"),
    (2_000, "wha_0190f5c1a2b37c4d8e9f0a1b2c3d4e5f"),
    (3_000, "wha_mmmmmmmmmmmmmmmm"),
    (3_000, "wha_nnnnnnnnnnnnnnnn"),
    (4_000, "wha_cccccccccccccccc"),
    (5_000, "wha_bbbbbbbbbbbbbbbb"),
    (6_000, "wha_aaaaaaaaaaaaaaaa"),
];

struct Setup {
    _database: TestDatabase,
    db: Db,
    api: Webhook,
}

async fn setup(backend: Backend) -> Setup {
    let database = TestDatabase::new(backend).await;
    let db = Db::connect(database.url()).await.expect("open the database");
    let api = Webhook::open(db.clone(), MeshAuth::new("paging-test"), WebhookConfig::default())
        .await
        .expect("open the webhook service");
    Setup {
        _database: database,
        db,
        api,
    }
}

async fn endpoint(setup: &Setup) -> EndpointId {
    let input = EndpointInput {
        url: "https://hooks.example.com/in".to_owned(),
        events: vec!["token.issued".to_owned()],
        description: None,
    };
    let created = setup
        .api
        .create_endpoint(&account(ACCOUNT), None, input)
        .await
        .expect("create");
    created.endpoint.id
}

async fn insert_attempt(db: &Db, endpoint_id: &EndpointId, attempted_at: i64, id: &str) {
    sqlx::query(
        "INSERT INTO webhook_attempts (id, account_id, endpoint_id, message_id, attempted_at, status_code, outcome, \
         error, latency_ms, response_snippet) VALUES ($1, $2, $3, 'msg_gone', $4, 200, 'succeeded', '', 1, '')",
    )
    .bind(id)
    .bind(ACCOUNT)
    .bind(endpoint_id.as_str())
    .bind(attempted_at)
    .execute(db.pool())
    .await
    .expect("insert an attempt");
}

async fn attempts_page_through_in_time_order(backend: Backend) {
    let setup = setup(backend).await;
    let listed = endpoint(&setup).await;
    let other = endpoint(&setup).await;
    for (n, (attempted_at, id)) in ATTEMPTS.iter().enumerate() {
        insert_attempt(&setup.db, &listed, *attempted_at, id).await;
        // Another endpoint's attempts interleave in time and never show up.
        insert_attempt(&setup.db, &other, *attempted_at, &format!("wha_other{n}")).await;
    }

    let owner: AccountId = account(ACCOUNT);
    let mut seen = Vec::new();
    let mut before: Option<String> = None;
    loop {
        let page = setup
            .api
            .list_attempts(&owner, &listed, 2, before.as_deref())
            .await
            .expect("list a page");
        assert!(page.attempts.len() <= 2);
        seen.extend(
            page.attempts
                .iter()
                .map(|attempt| (attempt.attempted_at_ms, attempt.id.to_string())),
        );
        match page.next_before {
            Some(next) => before = Some(next.into_string()),
            None => break,
        }
        assert!(seen.len() <= ATTEMPTS.len(), "paging does not end: {seen:?}");
    }
    let mut expected: Vec<(i64, String)> = ATTEMPTS.iter().map(|(at, id)| (*at, (*id).to_owned())).collect();
    expected.sort_by(|a, b| b.cmp(a));
    assert_eq!(seen, expected, "every attempt once, newest first");

    // The cursor must be one of the endpoint's attempts: another's, or none, is refused.
    for cursor in ["wha_other3", "wha_unknown", "*"] {
        let refused = setup.api.list_attempts(&owner, &listed, 2, Some(cursor)).await;
        assert!(
            matches!(refused, Err(WebhookError::Invalid(_))),
            "{cursor}: {refused:?}"
        );
    }
}

async fn endpoints_list_oldest_first_whatever_their_ids(backend: Backend) {
    let setup = setup(backend).await;
    let mut ids = Vec::new();
    for _ in 0..4 {
        ids.push(endpoint(&setup).await);
    }
    // The largest id becomes the oldest endpoint, the smallest the newest.
    ids.sort_by(|a, b| b.cmp(a));
    for (n, id) in ids.iter().enumerate() {
        sqlx::query("UPDATE webhook_endpoints SET created_at = $1 WHERE id = $2")
            .bind(1_000 * (i64::try_from(n).unwrap() + 1))
            .bind(id.as_str())
            .execute(setup.db.pool())
            .await
            .expect("date the endpoint");
    }
    let listed: Vec<EndpointId> = setup
        .api
        .list_endpoints(&account(ACCOUNT))
        .await
        .expect("list endpoints")
        .into_iter()
        .map(|endpoint| endpoint.id)
        .collect();
    assert_eq!(listed, ids);
}

#[tokio::test]
async fn attempts_page_through_in_time_order_sqlite() {
    attempts_page_through_in_time_order(Backend::Sqlite).await;
}

#[tokio::test]
async fn attempts_page_through_in_time_order_postgres() {
    attempts_page_through_in_time_order(Backend::Postgres).await;
}

#[tokio::test]
async fn endpoints_list_oldest_first_whatever_their_ids_sqlite() {
    endpoints_list_oldest_first_whatever_their_ids(Backend::Sqlite).await;
}

#[tokio::test]
async fn endpoints_list_oldest_first_whatever_their_ids_postgres() {
    endpoints_list_oldest_first_whatever_their_ids(Backend::Postgres).await;
}
