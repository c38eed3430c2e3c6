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
mod tests;
