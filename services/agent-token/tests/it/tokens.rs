//! An account creates an agent, the agent gets a token any relying service verifies offline from
//! the JWKS alone; once the account revokes the agent, it gets no more tokens and the ones it holds
//! are refused. Another account cannot see the agent at all.

use std::time::Duration;

use jsonwebtoken::jwk::JwkSet;
use latchkey_proto::agent_token::v1::{
    AgentAction, ChangeAgentStatusRequest, CreateAgentRequest, GetAgentRequest, GetJwksRequest, IssueTokenRequest,
    TokenCheck, VerifyTokensRequest, agent_token_service_client::AgentTokenServiceClient,
};
use latchkey_server::MeshChannel;
use latchkey_storage::Backend;
use latchkey_test_support::{
    BACKENDS, eventually,
    mesh::{as_account, verify_offline},
};
use tonic::Code;

use crate::support::TestAgentToken;

/// A new agent of `account`; answers its id.
pub(crate) async fn create_agent(service: &TestAgentToken, account: &str) -> String {
    let request = CreateAgentRequest {
        name: "invoicer".to_owned(),
        owner: "finance".to_owned(),
        ..CreateAgentRequest::default()
    };
    let created = service
        .client
        .clone()
        .create_agent(as_account(account, request))
        .await
        .expect("create the agent")
        .into_inner();
    created.agent.expect("the created agent").id
}

pub(crate) fn token_request(agent_id: &str) -> IssueTokenRequest {
    IssueTokenRequest {
        agent_id: agent_id.to_owned(),
        scope: vec!["invoices.read".to_owned()],
        ttl: Some(300),
        target_service: "billing".to_owned(),
        intent: "nightly invoice run".to_owned(),
        ..IssueTokenRequest::default()
    }
}

/// Why agent-token refuses `token` now, or `None` while it accepts it.
async fn refusal(mut client: AgentTokenServiceClient<MeshChannel>, token: &str) -> Option<String> {
    let check = TokenCheck {
        token: token.to_owned(),
        audience: "billing".to_owned(),
        ..TokenCheck::default()
    };
    let verdicts = client
        .verify_tokens(tonic::Request::new(VerifyTokensRequest { checks: vec![check] }))
        .await
        .expect("verify")
        .into_inner()
        .verdicts;
    let verdict = verdicts.into_iter().next().expect("one verdict per check");
    (!verdict.valid).then_some(verdict.reason)
}

async fn an_agent_gets_a_token_until_it_is_revoked(backend: Backend) {
    let mut service = TestAgentToken::start(backend).await;
    let account = service.account_id.clone();
    let agent_id = create_agent(&service, &account).await;

    let issued = service
        .client
        .issue_token(as_account(&account, token_request(&agent_id)))
        .await
        .expect("issue a token")
        .into_inner();
    let jwks = service
        .client
        .get_jwks(tonic::Request::new(GetJwksRequest {}))
        .await
        .expect("the JWKS")
        .into_inner()
        .jwks_json;
    let jwks: JwkSet = serde_json::from_str(&jwks).expect("a JWK set");
    let claims = verify_offline(&jwks, &issued.token, "billing");
    assert_eq!(claims["sub"], agent_id.as_str());
    assert_eq!(claims["account"], account.as_str());
    assert_eq!(claims["scope"], serde_json::json!(["invoices.read"]));
    assert_eq!(claims["jti"], issued.jti.as_str());
    assert_eq!(refusal(service.client.clone(), &issued.token).await, None);

    service
        .client
        .change_agent_status(as_account(
            &account,
            ChangeAgentStatusRequest {
                id: agent_id.clone(),
                action: AgentAction::Revoke.into(),
            },
        ))
        .await
        .expect("revoke the agent");
    let refused = service
        .client
        .issue_token(as_account(&account, token_request(&agent_id)))
        .await
        .expect_err("no token for a revoked agent");
    assert_eq!(refused.code(), Code::PermissionDenied, "{refused:?}");
    // The token it already holds is refused once the revocation has gone round the bus.
    let refused_now = eventually(Duration::from_secs(30), || async {
        refusal(service.client.clone(), &issued.token).await.as_deref() == Some("agent_revoked")
    })
    .await;
    assert!(refused_now, "the revoked agent's token is still accepted");
}

#[tokio::test]
async fn an_agent_gets_a_token_until_it_is_revoked_on_each_backend() {
    for backend in BACKENDS {
        an_agent_gets_a_token_until_it_is_revoked(backend).await;
    }
}

#[tokio::test]
async fn another_accounts_agent_is_not_found() {
    let mut service = TestAgentToken::start(Backend::Sqlite).await;
    let agent_id = create_agent(&service, &service.account_id).await;
    let other_account = "acct_someone_else";
    let looked_up = service
        .client
        .get_agent(as_account(other_account, GetAgentRequest { id: agent_id.clone() }))
        .await
        .expect_err("another account's agent");
    assert_eq!(looked_up.code(), Code::NotFound, "{looked_up:?}");
    let issued = service
        .client
        .issue_token(as_account(other_account, token_request(&agent_id)))
        .await
        .expect_err("no token for another account's agent");
    assert_eq!(issued.code(), Code::NotFound, "{issued:?}");
}
