use super::*;

fn with_sessions(idle: u64, max: u64) -> AgentTokenConfig {
    AgentTokenConfig {
        console_session_idle_secs: idle,
        console_session_max_secs: max,
        ..AgentTokenConfig::default()
    }
}

#[test]
fn the_defaults_are_valid_and_as_documented() {
    let defaults = AgentTokenConfig::default();
    assert_eq!(defaults.validate(), Ok(()));
    assert_eq!(defaults.console_session_idle_secs, 1_800);
    assert_eq!(defaults.console_session_max_secs, 43_200);
}

#[test]
fn console_session_lifetimes_must_be_positive_and_idle_within_max() {
    assert_eq!(with_sessions(1, 1).validate(), Ok(()));
    assert_eq!(
        with_sessions(0, 60).validate(),
        Err(AgentTokenConfigError::OutOfRange("console_session_idle_secs"))
    );
    assert_eq!(
        with_sessions(60, 0).validate(),
        Err(AgentTokenConfigError::OutOfRange("console_session_max_secs"))
    );
    assert_eq!(
        with_sessions(61, 60).validate(),
        Err(AgentTokenConfigError::IdleLongerThanMax { idle: 61, max: 60 })
    );
    assert_eq!(
        with_sessions(60, u64::MAX).validate(),
        Err(AgentTokenConfigError::OutOfRange("console_session_max_secs"))
    );
    let message = with_sessions(61, 60).validate().unwrap_err().to_string();
    assert!(message.contains("agent_token.console_session_idle_secs"), "{message}");
}
