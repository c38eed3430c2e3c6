//! How often tokens may be asked for, whoever asks: per agent and per account at issue (an agent's
//! own secret key included, which no API-key limit sees), and per delegating token and per account at
//! delegation. The rule lives here, in the service that issues, so every door (REST, gRPC, MCP) meets
//! it.
//!
//! Buckets are GCRA (governor's keyed limiter) held in this instance's memory: behind N agent-token
//! instances an agent may get up to N times the rate. Throttle *policies* are the limits that hold
//! across instances (their counters live in the policy database); these bound abuse cheaply.

use std::num::NonZeroU32;

use governor::{
    Quota, RateLimiter,
    clock::{Clock, DefaultClock},
    state::keyed::DefaultKeyedStateStore,
};
use latchkey_ids::{AccountId, AgentId};
use latchkey_server::InfraError;
use serde::Deserialize;

use crate::AgentTokenError;

/// The `[agent_token]` section of the settings file.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct AgentTokenConfig {
    /// Token requests (issue and delegation to it) per agent per second, sustained, and the burst.
    pub agent_rate_per_second: u32,
    pub agent_rate_burst: u32,
    /// Token requests per account per second, sustained, and the burst.
    pub account_rate_per_second: u32,
    pub account_rate_burst: u32,
    /// Delegations per delegating token per second, sustained, and the burst.
    pub delegation_rate_per_second: u32,
    pub delegation_rate_burst: u32,
}

impl Default for AgentTokenConfig {
    fn default() -> Self {
        Self {
            agent_rate_per_second: 100,
            agent_rate_burst: 200,
            account_rate_per_second: 2_000,
            account_rate_burst: 4_000,
            delegation_rate_per_second: 10,
            delegation_rate_burst: 20,
        }
    }
}

type Keyed = RateLimiter<String, DefaultKeyedStateStore<String>, DefaultClock>;

fn keyed(per_second: u32, burst: u32) -> Keyed {
    let per_second = NonZeroU32::new(per_second).unwrap_or(NonZeroU32::MIN);
    let burst = NonZeroU32::new(burst).unwrap_or(per_second);
    RateLimiter::keyed(Quota::per_second(per_second).allow_burst(burst))
}

/// The buckets of one agent-token instance.
pub(crate) struct RequestLimits {
    per_agent: Keyed,
    per_account: Keyed,
    per_delegating_token: Keyed,
}

impl std::fmt::Debug for RequestLimits {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RequestLimits").finish_non_exhaustive()
    }
}

impl RequestLimits {
    pub(crate) fn new(config: &AgentTokenConfig) -> Self {
        Self {
            per_agent: keyed(config.agent_rate_per_second, config.agent_rate_burst),
            per_account: keyed(config.account_rate_per_second, config.account_rate_burst),
            per_delegating_token: keyed(config.delegation_rate_per_second, config.delegation_rate_burst),
        }
    }

    /// Takes one token request of `agent_id` in `account`.
    pub(crate) fn issue(&self, account: &AccountId, agent_id: &AgentId) -> Result<(), AgentTokenError> {
        take(&self.per_agent, format!("{account}/{agent_id}"), "this agent")?;
        take(&self.per_account, account.to_string(), "this account")
    }

    /// Takes one delegation from the token `parent_jti` of `account` to `sub_agent`, which counts
    /// as a token request of the sub-agent too.
    pub(crate) fn delegation(
        &self,
        account: &AccountId,
        parent_jti: &str,
        sub_agent: &AgentId,
    ) -> Result<(), AgentTokenError> {
        take(
            &self.per_delegating_token,
            parent_jti.to_owned(),
            "this delegating token",
        )?;
        self.issue(account, sub_agent)
    }

    /// Forgets buckets that are full again, so memory follows the agents and tokens in recent use.
    pub(crate) fn retain_recent(&self) {
        self.per_agent.retain_recent();
        self.per_account.retain_recent();
        self.per_delegating_token.retain_recent();
    }
}

fn take(limiter: &Keyed, key: String, whose: &str) -> Result<(), AgentTokenError> {
    limiter.check_key(&key).map_err(|not_until| {
        let wait = not_until.wait_time_from(limiter.clock().now());
        let seconds = (wait.as_secs() + u64::from(wait.subsec_nanos() > 0)).max(1);
        AgentTokenError::Infra(InfraError::Throttled {
            message: format!("too many token requests for {whose}; retry after {seconds} s"),
            retry_after_secs: Some(seconds),
        })
    })
}

#[cfg(test)]
mod tests {
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
        let error =
            refused(limits.delegation(&account("acct_a"), "tok_1", &agent("agent_1"))).expect("the token is spent");
        assert!(error.message.contains("delegating token"), "{}", error.message);
        assert!(
            limits
                .delegation(&account("acct_a"), "tok_2", &agent("agent_1"))
                .is_ok()
        );
        // Delegations to an agent count as its requests.
        let error =
            refused(limits.delegation(&account("acct_a"), "tok_3", &agent("agent_1"))).expect("the agent is spent");
        assert!(error.message.contains("this agent"), "{}", error.message);
    }
}
