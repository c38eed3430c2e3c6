//! Validation: checks a [`PolicyInput`] field by field and compiles its matchers in the same pass, so a
//! policy that passes is ready to evaluate. Every problem is reported at once, each naming its field
//! the way the client wrote it (`rules[2].effect.limit`, `rules[0].match.time_windows[0].start`).

use std::borrow::Borrow;

use latchkey_errors::FieldError;
use latchkey_tokens::scope::ScopePattern;

use super::effect::Effect;
use super::model::{PolicyInput, Rule};
use super::rule::{CompiledMatch, CompiledRule};
use super::time_window::TimeWindow;

/// The longest policy name, in characters.
pub const MAX_NAME_CHARS: usize = 200;
/// The longest description, in characters.
pub const MAX_DESCRIPTION_CHARS: usize = 2000;
/// The highest priority.
pub const MAX_PRIORITY: i64 = 10_000;
/// The most rules one policy may hold: evaluation walks them in order.
pub const MAX_RULES: usize = 100;
/// The most entries in any one condition list (ids, owners, patterns, time windows).
pub const MAX_LIST_ENTRIES: usize = 100;
/// The longest exact value (agent id, owner, provider, framework), in bytes.
pub const MAX_VALUE_LEN: usize = 256;

/// A policy that passed validation, with its rules compiled. Give it an id with
/// [`Policy::new`](super::Policy::new) to evaluate it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ValidPolicy {
    pub(crate) definition: PolicyInput,
    pub(crate) priority: u16,
    pub(crate) rules: Box<[CompiledRule]>,
}

impl ValidPolicy {
    /// The policy as it was written (to store, or to answer with).
    pub fn definition(&self) -> &PolicyInput {
        &self.definition
    }
}

impl PolicyInput {
    /// Checks every field and compiles the rules; on failure, answers every problem found.
    pub fn validate(self) -> Result<ValidPolicy, Vec<FieldError>> {
        let mut errors = Vec::new();
        if self.name.trim().is_empty() {
            errors.push(FieldError::new("name", "must not be empty"));
        } else if self.name.chars().count() > MAX_NAME_CHARS {
            errors.push(FieldError::new(
                "name",
                format!("must be at most {MAX_NAME_CHARS} characters"),
            ));
        }
        if let Some(description) = &self.description
            && description.chars().count() > MAX_DESCRIPTION_CHARS
        {
            let message = format!("must be at most {MAX_DESCRIPTION_CHARS} characters");
            errors.push(FieldError::new("description", message));
        }
        let priority = u16::try_from(self.priority)
            .ok()
            .filter(|p| i64::from(*p) <= MAX_PRIORITY);
        if priority.is_none() {
            errors.push(FieldError::new(
                "priority",
                format!("must be between 0 and {MAX_PRIORITY}"),
            ));
        }
        if self.rules.is_empty() {
            errors.push(FieldError::new("rules", "must have at least one rule"));
        } else if self.rules.len() > MAX_RULES {
            errors.push(FieldError::new("rules", format!("must have at most {MAX_RULES} rules")));
        }
        let rules: Vec<CompiledRule> = self
            .rules
            .iter()
            .enumerate()
            .filter_map(|(index, rule)| compile_rule(rule, &format!("rules[{index}]"), &mut errors))
            .collect();
        match priority {
            Some(priority) if errors.is_empty() => Ok(ValidPolicy {
                definition: self,
                priority,
                rules: rules.into_boxed_slice(),
            }),
            _ => Err(errors),
        }
    }
}

/// Checks and compiles one rule, whose fields are named under `path`.
fn compile_rule(rule: &Rule, path: &str, errors: &mut Vec<FieldError>) -> Option<CompiledRule> {
    let before = errors.len();
    if let Effect::Throttle { limit, window_secs, .. } = rule.effect {
        if limit == 0 {
            errors.push(FieldError::new(format!("{path}.effect.limit"), "must be at least 1"));
        }
        if window_secs == 0 {
            errors.push(FieldError::new(
                format!("{path}.effect.window_secs"),
                "must be at least 1",
            ));
        }
    }
    let given = &rule.conditions;
    let path = format!("{path}.match");
    let field = |name: &str| format!("{path}.{name}");
    let conditions = CompiledMatch {
        agent_ids: list(&given.agent_ids, &field("agent_ids"), errors, exact_value),
        owners: list(&given.owners, &field("owners"), errors, exact_value),
        model_providers: list(&given.model_providers, &field("model_providers"), errors, exact_value),
        frameworks: list(&given.frameworks, &field("frameworks"), errors, exact_value),
        scopes: list(&given.scopes, &field("scopes"), errors, pattern),
        target_services: list(&given.target_services, &field("target_services"), errors, pattern),
        time_windows: list(&given.time_windows, &field("time_windows"), errors, TimeWindow::compile),
        cover: rule.effect.grants(),
    };
    (errors.len() == before).then_some(CompiledRule {
        conditions,
        effect: rule.effect,
    })
}

/// Compiles a condition list named `path`: absent stays absent (any), present must be non-empty and
/// short, and each entry is compiled by `compile` under `path[index]`.
fn list<E: Borrow<I>, I: ?Sized, T>(
    entries: &Option<Vec<E>>,
    path: &str,
    errors: &mut Vec<FieldError>,
    compile: fn(&I, &str, &mut Vec<FieldError>) -> Option<T>,
) -> Option<Box<[T]>> {
    let entries = entries.as_ref()?;
    if entries.is_empty() {
        errors.push(FieldError::new(path, "must not be empty; leave it out to match any"));
        return None;
    }
    if entries.len() > MAX_LIST_ENTRIES {
        errors.push(FieldError::new(
            path,
            format!("must have at most {MAX_LIST_ENTRIES} entries"),
        ));
        return None;
    }
    let compiled = entries
        .iter()
        .enumerate()
        .filter_map(|(index, entry)| compile(entry.borrow(), &format!("{path}[{index}]"), errors))
        .collect();
    Some(compiled)
}

/// An exact value: an id, owner, provider or framework.
fn exact_value(value: &str, path: &str, errors: &mut Vec<FieldError>) -> Option<Box<str>> {
    if value.is_empty() {
        errors.push(FieldError::new(path, "must not be empty"));
        return None;
    }
    if value.len() > MAX_VALUE_LEN {
        errors.push(FieldError::new(path, format!("must be at most {MAX_VALUE_LEN} bytes")));
        return None;
    }
    Some(value.into())
}

/// A scope or target service pattern.
fn pattern(text: &str, path: &str, errors: &mut Vec<FieldError>) -> Option<ScopePattern> {
    ScopePattern::rule(text)
        .map_err(|error| errors.push(FieldError::new(path, error.to_string())))
        .ok()
}

#[cfg(test)]
mod tests;
