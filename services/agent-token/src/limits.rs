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

use crate::{AgentTokenConfig, AgentTokenError};

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
mod tests;
