//! Compiled rules: the matchers validation builds once, so evaluating a request compares strings and
//! integers and allocates nothing.

use chrono::{DateTime, Utc};
use latchkey_tokens::scope::ScopePattern;

use super::effect::Effect;
use super::request::{ANY_TARGET, TokenRequest};
use super::time_window::TimeWindow;

/// A rule ready to evaluate.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct CompiledRule {
    pub(crate) conditions: CompiledMatch,
    pub(crate) effect: Effect,
}

/// A rule's conditions; `None` is "any".
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct CompiledMatch {
    pub(crate) agent_ids: Option<Box<[Box<str>]>>,
    pub(crate) owners: Option<Box<[Box<str>]>>,
    pub(crate) model_providers: Option<Box<[Box<str>]>>,
    pub(crate) frameworks: Option<Box<[Box<str>]>>,
    pub(crate) scopes: Option<Box<[ScopePattern]>>,
    pub(crate) target_services: Option<Box<[ScopePattern]>>,
    pub(crate) time_windows: Option<Box<[TimeWindow]>>,
    /// How the scope and target lists read a request, fixed by the rule's effect. A granting rule
    /// (allow) must *cover* the request: every requested scope (itself a pattern, `db.*`) is
    /// contained in one of its patterns, and a token for `any` service only matches a target pattern
    /// that matches `any`. A restricting rule (deny, throttle, require_approval) matches when the
    /// request *touches* what it names: one requested scope overlaps one of its patterns (a request
    /// for `*` touches `secrets.read`), and a token for `any` service could be used at the named
    /// ones. Either way round, a request cannot slip past a rule by asking for more than the rule
    /// names (see `latchkey_tokens::scope`).
    pub(crate) cover: bool,
}

impl CompiledRule {
    /// Whether the rule applies to `request` at `now`.
    pub(crate) fn matches(&self, request: &TokenRequest, now: DateTime<Utc>) -> bool {
        self.conditions.matches(request, now)
    }
}

impl CompiledMatch {
    /// Whether every condition given holds; cheapest checks first.
    pub(crate) fn matches(&self, request: &TokenRequest, now: DateTime<Utc>) -> bool {
        listed(&self.agent_ids, Some(request.agent_id.as_str()), str::eq)
            && listed(&self.owners, Some(request.owner.as_str()), str::eq)
            && listed(
                &self.model_providers,
                request.model_provider.as_deref(),
                str::eq_ignore_ascii_case,
            )
            && listed(
                &self.frameworks,
                request.framework.as_deref(),
                str::eq_ignore_ascii_case,
            )
            && self.target_matches(&request.target_service)
            && self.time_matches(now)
            && self.scopes_match(&request.scopes)
    }

    /// For a restricting rule that names scopes, the first requested scope it caught (for the reason).
    pub(crate) fn caught_scope<'r>(&self, request: &'r TokenRequest) -> Option<&'r str> {
        let patterns = self.scopes.as_deref().filter(|_| !self.cover)?;
        request
            .scopes
            .iter()
            .find(|scope| patterns.iter().any(|pattern| pattern.overlaps(scope)))
            .map(String::as_str)
    }

    fn target_matches(&self, target: &str) -> bool {
        let Some(patterns) = &self.target_services else {
            return true;
        };
        if target == ANY_TARGET && !self.cover {
            return true;
        }
        patterns.iter().any(|pattern| pattern.contains(target))
    }

    fn time_matches(&self, now: DateTime<Utc>) -> bool {
        match &self.time_windows {
            None => true,
            Some(windows) => windows.iter().any(|window| window.contains(now)),
        }
    }

    fn scopes_match(&self, scopes: &[String]) -> bool {
        let Some(patterns) = &self.scopes else {
            return true;
        };
        if self.cover {
            scopes
                .iter()
                .all(|scope| patterns.iter().any(|pattern| pattern.contains(scope)))
        } else {
            scopes
                .iter()
                .any(|scope| patterns.iter().any(|pattern| pattern.overlaps(scope)))
        }
    }
}

/// Whether `value` is one of `allowed` (absent list: anything; absent value: never).
fn listed(allowed: &Option<Box<[Box<str>]>>, value: Option<&str>, same: fn(&str, &str) -> bool) -> bool {
    match (allowed, value) {
        (None, _) => true,
        (Some(_), None) => false,
        (Some(allowed), Some(value)) => allowed.iter().any(|entry| same(entry, value)),
    }
}

#[cfg(test)]
mod tests;
