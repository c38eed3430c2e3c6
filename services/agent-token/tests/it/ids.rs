//! Ids are parsed where a request enters. Text that is not an id of the kind a field wants (a
//! wildcard, a dotted or upper-case name, another kind's id, 200 characters) names nothing, so it
//! gets exactly the answer an unknown id gets, and an id of one account's agent or key is unknown
//! to every other account.

use std::time::Duration;

use latchkey_proto::agent_token::v1::{
    AgentAction, ChangeAgentStatusRequest, DelegateTokenRequest, DeleteApiKeyRequest, GetAgentRequest,
    ListApiKeysRequest, agent_token_service_client::AgentTokenServiceClient,
};
use latchkey_server::MeshChannel;
use latchkey_storage::Backend;
use latchkey_test_support::{mesh::as_account, read_until};
use tonic::{Code, Status};

use crate::{
    support::TestAgentToken,
    tokens::{create_agent, token_request},
};

/// Well-formed ids that no agent or key has.
const UNKNOWN_AGENT: &str = "agent_0000000000000000";
const UNKNOWN_KEY: &str = "key_0000000000000000";

/// What is not an id of `prefix`'s kind.
fn malformed(prefix: &str) -> Vec<String> {
    vec![
        format!("{prefix}_*"),
        format!("{prefix}_>"),
        format!("{prefix}_x.y"),
        "acct_x.y".to_owned(),
        format!("{}_ABC", prefix.to_uppercase()),
        format!("{prefix}_ab c"),
        if prefix == "key" { "agent_abc" } else { "key_abc" }.to_owned(),
        format!("{prefix}_{}", "a".repeat(200 - prefix.len() - 1)),
    ]
}

/// The code, message and error details of a refusal, which must not tell malformed from unknown.
fn answer(status: Status) -> (Code, String, Vec<u8>) {
    (status.code(), status.message().to_owned(), status.details().to_vec())
}

async fn get_agent(client: &mut AgentTokenServiceClient<MeshChannel>, account: &str, id: &str) -> Status {
    client
        .get_agent(as_account(account, GetAgentRequest { id: id.to_owned() }))
        .await
        .expect_err("no such agent")
}

async fn pause_agent(client: &mut AgentTokenServiceClient<MeshChannel>, account: &str, id: &str) -> Status {
    let request = ChangeAgentStatusRequest {
        id: id.to_owned(),
        action: AgentAction::Pause.into(),
    };
    client
        .change_agent_status(as_account(account, request))
        .await
        .expect_err("no such agent")
}

async fn issue(client: &mut AgentTokenServiceClient<MeshChannel>, account: &str, agent_id: &str) -> Status {
    client
        .issue_token(as_account(account, token_request(agent_id)))
        .await
        .expect_err("no such agent")
}

async fn delete_key(client: &mut AgentTokenServiceClient<MeshChannel>, account: &str, id: &str) -> Status {
    client
        .delete_api_key(as_account(account, DeleteApiKeyRequest { id: id.to_owned() }))
        .await
        .expect_err("no such key")
}

#[tokio::test]
async fn a_malformed_agent_id_gets_what_an_unknown_one_gets() {
    let service = TestAgentToken::start(Backend::Sqlite).await;
    let account = service.account_id.clone();
    let mut client = service.client.clone();

    let unknown = answer(get_agent(&mut client, &account, UNKNOWN_AGENT).await);
    assert_eq!(unknown.0, Code::NotFound, "{unknown:?}");
    let unknown_pause = answer(pause_agent(&mut client, &account, UNKNOWN_AGENT).await);
    let unknown_issue = answer(issue(&mut client, &account, UNKNOWN_AGENT).await);
    assert_eq!(unknown_issue.0, Code::NotFound, "{unknown_issue:?}");
    for id in malformed("agent") {
        assert_eq!(answer(get_agent(&mut client, &account, &id).await), unknown, "{id}");
        assert_eq!(
            answer(pause_agent(&mut client, &account, &id).await),
            unknown_pause,
            "{id}"
        );
        assert_eq!(answer(issue(&mut client, &account, &id).await), unknown_issue, "{id}");
    }

    // A bad action is still named first, whatever the id.
    let request = ChangeAgentStatusRequest {
        id: "agent_*".to_owned(),
        action: 99,
    };
    let refused = client
        .change_agent_status(as_account(&account, request))
        .await
        .expect_err("no such action");
    assert_eq!(refused.code(), Code::InvalidArgument, "{refused:?}");
    // An agent id left out is a missing field, as before.
    let refused = issue(&mut client, &account, "").await;
    assert_eq!(refused.code(), Code::InvalidArgument, "{refused:?}");
}

#[tokio::test]
async fn a_malformed_sub_agent_gets_what_an_unknown_one_gets() {
    let service = TestAgentToken::start(Backend::Sqlite).await;
    let account = service.account_id.clone();
    let mut client = service.client.clone();
    let agent_id = create_agent(&service, &account).await;
    let token = client
        .issue_token(as_account(&account, token_request(&agent_id)))
        .await
        .expect("issue a token")
        .into_inner()
        .token;
    let delegate = |sub_agent: String| DelegateTokenRequest {
        token: token.clone(),
        scope: vec!["invoices.read".to_owned()],
        ttl: Some(60),
        sub_agent,
        ..DelegateTokenRequest::default()
    };

    // Verification answers once its revocation set has caught up with the bus.
    let unknown = read_until(
        Duration::from_secs(30),
        || async {
            let refused = client
                .clone()
                .delegate_token(tonic::Request::new(delegate(UNKNOWN_AGENT.to_owned())))
                .await
                .expect_err("no such sub-agent");
            answer(refused)
        },
        |(code, _, _)| *code != Code::Unavailable,
    )
    .await;
    assert_eq!(unknown.0, Code::NotFound, "{unknown:?}");
    for id in malformed("agent").into_iter().chain([String::new()]) {
        let refused = client
            .delegate_token(tonic::Request::new(delegate(id.clone())))
            .await
            .expect_err("no such sub-agent");
        assert_eq!(answer(refused), unknown, "{id}");
    }
}

#[tokio::test]
async fn a_malformed_api_key_id_gets_what_an_unknown_one_gets() {
    let service = TestAgentToken::start(Backend::Sqlite).await;
    let account = service.account_id.clone();
    let mut client = service.client.clone();

    let unknown = answer(delete_key(&mut client, &account, UNKNOWN_KEY).await);
    assert_eq!(unknown.0, Code::NotFound, "{unknown:?}");
    for id in malformed("key") {
        assert_eq!(answer(delete_key(&mut client, &account, &id).await), unknown, "{id}");
    }
}

#[tokio::test]
async fn another_account_can_neither_change_the_agent_nor_delete_the_key() {
    let service = TestAgentToken::start(Backend::Sqlite).await;
    let account = service.account_id.clone();
    let mut client = service.client.clone();
    let agent_id = create_agent(&service, &account).await;
    let keys = client
        .list_api_keys(as_account(&account, ListApiKeysRequest {}))
        .await
        .expect("list the keys")
        .into_inner()
        .keys;
    let key_id = keys.first().expect("the bootstrap key").id.clone();

    let other = "acct_someone_else";
    assert_eq!(
        answer(pause_agent(&mut client, other, &agent_id).await),
        answer(pause_agent(&mut client, other, UNKNOWN_AGENT).await),
    );
    assert_eq!(
        answer(delete_key(&mut client, other, &key_id).await),
        answer(delete_key(&mut client, other, UNKNOWN_KEY).await),
    );

    let agent = client
        .get_agent(as_account(&account, GetAgentRequest { id: agent_id }))
        .await
        .expect("the agent, untouched")
        .into_inner();
    assert_eq!(agent.status, "active");
    let still = client
        .list_api_keys(as_account(&account, ListApiKeysRequest {}))
        .await
        .expect("list the keys")
        .into_inner()
        .keys;
    assert_eq!(still, keys, "the key is still there");
}
