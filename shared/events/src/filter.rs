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
mod tests {
    use super::*;

    #[test]
    fn patterns_match_like_nats_subjects() {
        let tokens = EventFilter::event_type("token.*");
        assert!(tokens.matches_type("token.issued"));
        assert!(tokens.matches_type("token.revoked"));
        assert!(!tokens.matches_type("agent.revoked"));
        assert!(!tokens.matches_type("token"));
        assert!(!tokens.matches_type("token.issued.extra"));

        let exact = EventFilter::event_type("api_key.deleted");
        assert!(exact.matches_type("api_key.deleted"));
        assert!(!exact.matches_type("api_key.created"));

        let rest = EventFilter::event_type(">");
        assert!(rest.matches_type("connection.refresh_failed"));
        assert!(EventFilter::all().matches_type("anything.at.all"));
    }

    #[test]
    fn invalid_patterns_are_recognised() {
        assert!(EventFilter::event_type("token.*").is_valid());
        assert!(EventFilter::event_type("token.>").is_valid());
        assert!(!EventFilter::event_type("token..issued").is_valid());
        assert!(!EventFilter::event_type("token.is*").is_valid());
        assert!(!EventFilter::event_type(">.issued").is_valid());
        assert!(!EventFilter::event_type("token issued").is_valid());
        assert!(!EventFilter::event_type("").is_valid());
    }

    #[test]
    fn subjects_cover_every_account() {
        assert_eq!(EventFilter::all().subject_under("lk"), "lk.events.>");
        assert_eq!(
            EventFilter::event_type("token.*").subject_under("lk"),
            "lk.events.*.token.*"
        );
    }
}
