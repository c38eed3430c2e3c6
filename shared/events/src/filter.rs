//! Which events a subscription wants. A pattern is matched against the event type token by token,
//! exactly as NATS matches subjects (`*` is one token, a trailing `>` the rest), so the in-process
//! bus and JetStream's subject filter always agree.

use crate::Envelope;

/// Everything, or the event types matching one pattern (`"api_key.deleted"`, `"token.*"`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EventFilter {
    pattern: Option<String>,
}

impl EventFilter {
    /// Every event.
    pub fn all() -> Self {
        Self { pattern: None }
    }

    /// Events whose type matches `pattern`: dotted tokens, `*` for any one token, `>` as the last
    /// token for any number of them.
    pub fn event_type(pattern: &str) -> Self {
        Self {
            pattern: Some(pattern.to_owned()),
        }
    }

    /// The type pattern, or `None` for every event.
    pub fn pattern(&self) -> Option<&str> {
        self.pattern.as_deref()
    }

    pub fn matches(&self, env: &Envelope) -> bool {
        self.matches_type(&env.event_type)
    }

    pub(crate) fn matches_type(&self, event_type: &str) -> bool {
        let Some(pattern) = &self.pattern else {
            return true;
        };
        let mut wanted = pattern.split('.');
        let mut actual = event_type.split('.');
        loop {
            match (wanted.next(), actual.next()) {
                (Some(">"), Some(_)) => return true,
                (Some("*"), Some(_)) => {}
                (Some(w), Some(a)) if w == a => {}
                (None, None) => return true,
                _ => return false,
            }
        }
    }

    /// True when the pattern is one NATS accepts as part of a subject: non-empty tokens, no
    /// whitespace, wildcards only as whole tokens and `>` only last.
    pub(crate) fn is_valid(&self) -> bool {
        let Some(pattern) = &self.pattern else {
            return true;
        };
        let tokens: Vec<&str> = pattern.split('.').collect();
        tokens.iter().enumerate().all(|(i, token)| {
            !token.is_empty()
                && !token.chars().any(char::is_whitespace)
                && (!token.contains(['*', '>']) || *token == "*" || (*token == ">" && i == tokens.len() - 1))
        })
    }

    /// The NATS subject covering these events under `prefix`: every account, matching types.
    pub(crate) fn subject_under(&self, prefix: &str) -> String {
        match &self.pattern {
            None => format!("{prefix}.events.>"),
            Some(pattern) => format!("{prefix}.events.*.{pattern}"),
        }
    }
}

#[cfg(test)]
mod tests;
