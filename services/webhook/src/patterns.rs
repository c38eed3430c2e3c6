//! Which events an endpoint receives: exact event types (`token.issued`), a category wildcard
//! (`token.*`), or everything (`*`). Only patterns that can match a catalogue type are accepted,
//! so a typo is a validation error rather than an endpoint that silently never receives anything.

use latchkey_events::catalogue::EventType;

use crate::WebhookError;

/// The most patterns one endpoint may list.
const MAX_PATTERNS: usize = 64;

/// Validates `patterns` (trimmed, deduplicated, order kept); errors name `events[i]`.
pub(crate) fn validate(patterns: &[String]) -> Result<Vec<String>, WebhookError> {
    if patterns.is_empty() {
        return Err(WebhookError::field(
            "events",
            "list at least one event type, or \"*\" for all",
        ));
    }
    if patterns.len() > MAX_PATTERNS {
        return Err(WebhookError::field("events", format!("at most {MAX_PATTERNS} entries")));
    }
    let mut accepted: Vec<String> = Vec::with_capacity(patterns.len());
    for (index, pattern) in patterns.iter().enumerate() {
        let pattern = pattern.trim();
        if !EventType::ALL
            .iter()
            .any(|event_type| matches(pattern, event_type.as_str()))
        {
            return Err(WebhookError::field(
                &format!("events[{index}]"),
                format!(
                    "{pattern:?} matches no event type; use a type such as token.issued, a category such as token.*, or *"
                ),
            ));
        }
        if !accepted.iter().any(|seen| seen == pattern) {
            accepted.push(pattern.to_owned());
        }
    }
    Ok(accepted)
}

/// Whether `pattern` selects events of type `event_type`.
pub(crate) fn matches(pattern: &str, event_type: &str) -> bool {
    if pattern == "*" {
        return true;
    }
    match pattern.strip_suffix(".*") {
        Some(category) => event_type
            .strip_prefix(category)
            .is_some_and(|rest| rest.starts_with('.')),
        None => pattern == event_type,
    }
}

/// Whether any of `patterns` selects `event_type`.
pub(crate) fn any_matches(patterns: &[String], event_type: &str) -> bool {
    patterns.iter().any(|pattern| matches(pattern, event_type))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_category_wildcard_selects_its_category_only() {
        assert!(matches("token.*", "token.issued"));
        assert!(matches("token.*", "token.revoked"));
        assert!(!matches("token.*", "tokens.issued"));
        assert!(!matches("token.*", "agent.created"));
        assert!(matches("*", "agent.created"));
        assert!(matches("agent.created", "agent.created"));
        assert!(!matches("agent.created", "agent.revoked"));
    }

    #[test]
    fn patterns_that_match_nothing_are_named() {
        let error = validate(&["token.*".into(), "tokn.issued".into()]).unwrap_err();
        let WebhookError::Invalid(api_error) = error else {
            panic!("expected a validation error");
        };
        assert_eq!(api_error.errors[0].field, "events[1]");
        assert!(validate(&[]).is_err());
        assert!(validate(&["token.".into()]).is_err());
        assert!(validate(&["**".into()]).is_err());
    }

    #[test]
    fn valid_patterns_are_trimmed_and_deduplicated() {
        let accepted = validate(&[" token.* ".into(), "token.*".into(), "endpoint.disabled".into()]).unwrap();
        assert_eq!(accepted, ["token.*", "endpoint.disabled"]);
    }
}
