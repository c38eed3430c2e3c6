use latchkey_errors::{ApiError, ErrorCode};

use super::*;

fn limits(agent_burst: u32, account_burst: u32, delegation_burst: u32) -> RequestLimits {
    RequestLimits::new(&AgentTokenConfig {
        agent_rate_per_second: 1,
        agent_rate_burst: agent_burst,
        account_rate_per_second: 1,
        account_rate_burst: account_burst,
        delegation_rate_per_second: 1,
        delegation_rate_burst: delegation_burst,
        ..AgentTokenConfig::default()
    })
}

fn account(id: &str) -> AccountId {
    AccountId::parse(id).expect("an account id")
}

fn agent(id: &str) -> AgentId {
    AgentId::parse(id).expect("an agent id")
}

fn refused(result: Result<(), AgentTokenError>) -> Option<ApiError> {
    match result {
        Err(error) => Some(ApiError::from_status(&tonic::Status::from(error))),
        _ => None,
    }
}

#[test]
fn an_agent_past_its_burst_is_refused_with_a_retry_after_and_another_agent_is_not() {
    let limits = limits(2, 100, 100);
    assert!(limits.issue(&account("acct_a"), &agent("agent_1")).is_ok());
    assert!(limits.issue(&account("acct_a"), &agent("agent_1")).is_ok());
    let error = refused(limits.issue(&account("acct_a"), &agent("agent_1"))).expect("the third is refused");
    assert_eq!(error.code, ErrorCode::RateLimited);
    assert!(error.retry_after_secs.is_some_and(|s| s >= 1));
    assert!(error.message.contains("this agent"), "{}", error.message);
    assert!(limits.issue(&account("acct_a"), &agent("agent_2")).is_ok());
    // The same agent id in another account is another agent.
    assert!(limits.issue(&account("acct_b"), &agent("agent_1")).is_ok());
}

#[test]
fn an_account_past_its_burst_is_refused_whichever_agent_asks() {
    let limits = limits(100, 3, 100);
    for agent_id in ["agent_1", "agent_2", "agent_3"] {
        assert!(limits.issue(&account("acct_a"), &agent(agent_id)).is_ok());
    }
    let error = refused(limits.issue(&account("acct_a"), &agent("agent_4"))).expect("the account is spent");
    assert!(error.message.contains("this account"), "{}", error.message);
    assert!(limits.issue(&account("acct_b"), &agent("agent_4")).is_ok());
}

#[test]
fn delegations_are_counted_per_delegating_token_and_per_account() {
    let limits = limits(2, 100, 1);
    assert!(
        limits
            .delegation(&account("acct_a"), "tok_1", &agent("agent_1"))
            .is_ok()
    );
    let error = refused(limits.delegation(&account("acct_a"), "tok_1", &agent("agent_1"))).expect("the token is spent");
    assert!(error.message.contains("delegating token"), "{}", error.message);
    assert!(
        limits
            .delegation(&account("acct_a"), "tok_2", &agent("agent_1"))
            .is_ok()
    );
    // Delegations to an agent count as its requests.
    let error = refused(limits.delegation(&account("acct_a"), "tok_3", &agent("agent_1"))).expect("the agent is spent");
    assert!(error.message.contains("this agent"), "{}", error.message);
}
