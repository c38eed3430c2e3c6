//! The `[agent_token]` section of the settings file (each setting documented with its default in
//! src/defaults.toml): how often tokens may be asked for (`limits`) and how long console sessions
//! live (`console_sessions`).

use serde::Deserialize;

/// The longest either console session lifetime may be set to: a year.
const MAX_CONSOLE_SESSION_SECS: u64 = 365 * 24 * 3600;

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
    /// Seconds a console session lives unused (default 1800): each use starts the clock again.
    pub console_session_idle_secs: u64,
    /// Seconds a console session lives at most, however busy (default 43200, twelve hours).
    pub console_session_max_secs: u64,
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
            console_session_idle_secs: 1_800,
            console_session_max_secs: 43_200,
        }
    }
}

/// A setting of `[agent_token]` the service cannot run with, named as the settings file names it.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum AgentTokenConfigError {
    #[error("agent_token.{0} must be 1 to {MAX_CONSOLE_SESSION_SECS} seconds")]
    OutOfRange(&'static str),
    #[error(
        "agent_token.console_session_idle_secs ({idle}) must not exceed agent_token.console_session_max_secs ({max})"
    )]
    IdleLongerThanMax { idle: u64, max: u64 },
}

impl AgentTokenConfig {
    /// Refuses settings the service cannot run with. (A rate or burst of 0 is taken as the least
    /// there is, as it always has been.)
    pub fn validate(&self) -> Result<(), AgentTokenConfigError> {
        let in_range = |secs: u64| (1..=MAX_CONSOLE_SESSION_SECS).contains(&secs);
        if !in_range(self.console_session_idle_secs) {
            return Err(AgentTokenConfigError::OutOfRange("console_session_idle_secs"));
        }
        if !in_range(self.console_session_max_secs) {
            return Err(AgentTokenConfigError::OutOfRange("console_session_max_secs"));
        }
        if self.console_session_idle_secs > self.console_session_max_secs {
            return Err(AgentTokenConfigError::IdleLongerThanMax {
                idle: self.console_session_idle_secs,
                max: self.console_session_max_secs,
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
