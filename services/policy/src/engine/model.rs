//! The policy as the REST API accepts it: plain serde types, checked and compiled by
//! [`PolicyInput::validate`](super::PolicyInput::validate). Unknown fields are refused everywhere, so
//! a misspelt condition (`"scope"` for `"scopes"`) is an error rather than a rule that matches anything.

use serde::{Deserialize, Deserializer, Serialize};

use super::effect::Effect;
use object_only::object_only;

mod object_only;

/// The priority a policy gets when the request does not say.
pub const DEFAULT_PRIORITY: i64 = 100;

/// A policy to create, or the whole of one after a [`PolicyPatch`]. See the [module
/// documentation](super) for a complete JSON example.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(remote = "Self", deny_unknown_fields)]
pub struct PolicyInput {
    /// 1 to 200 characters. Missing reads as empty, so validation names the field.
    #[serde(default)]
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// 0 to 10000; higher wins. Signed so that a negative number is a validation error naming
    /// `priority`, not a type error.
    #[serde(default = "default_priority")]
    pub priority: i64,
    /// At least one. Missing reads as empty, so validation names the field.
    #[serde(default)]
    pub rules: Vec<Rule>,
    #[serde(default = "default_true")]
    pub is_active: bool,
}

/// One rule: when the request matches every condition given, the rule's effect applies.
///
/// ```json
/// {"match": {"scopes": ["secrets.*"], "owners": ["data-team"]}, "effect": "deny"}
/// ```
/// A rule without `match` matches every request (a catch-all at the end of a policy).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(remote = "Self", deny_unknown_fields)]
pub struct Rule {
    #[serde(rename = "match", default, skip_serializing_if = "Match::is_any")]
    pub conditions: Match,
    pub effect: Effect,
}

/// The conditions of a rule. Each is optional (absent = any request); a present list must not be
/// empty. Each list matches when the request's value is one of its entries.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(remote = "Self", deny_unknown_fields)]
pub struct Match {
    /// Agent ids, exactly (`agent_…`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_ids: Option<Vec<String>>,
    /// Agent owners, exactly (`engineering`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owners: Option<Vec<String>>,
    /// Model providers, ignoring ASCII case (`openai` matches `OpenAI`); an agent without one never
    /// matches a rule that names some.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model_providers: Option<Vec<String>>,
    /// Agent frameworks, ignoring ASCII case (`langchain`); as for providers, absent never matches.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub frameworks: Option<Vec<String>>,
    /// Scope patterns with wildcards (`secrets.*`, `*.read`, `*`; see `pattern`). How a request with
    /// several scopes matches depends on the effect; see the [module documentation](super).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scopes: Option<Vec<String>>,
    /// Target service patterns, with the same wildcards as scopes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_services: Option<Vec<String>>,
    /// When the rule applies: the request matches if it falls in any of the windows.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_windows: Option<Vec<TimeWindowInput>>,
}

/// A weekly window, as written: `{"days": ["mon", "fri"], "start": "09:00", "end": "17:00",
/// "timezone": "+02:00"}`. See `time_window` for the exact meaning.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(remote = "Self", deny_unknown_fields)]
pub struct TimeWindowInput {
    /// `mon`..`sun` (or full names, any case); absent = every day.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub days: Option<Vec<String>>,
    /// `HH:MM`, inclusive.
    pub start: String,
    /// `HH:MM` up to `24:00`, exclusive; earlier than `start` crosses midnight.
    pub end: String,
    /// `UTC` (the default) or a fixed offset like `+02:00`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timezone: Option<String>,
}

/// A partial update (PATCH): absent fields are left as they are; `"description": null` clears the
/// description. Apply it with [`PolicyPatch::apply`] and validate the result like a new policy, so
/// errors name fields the same way.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(remote = "Self", deny_unknown_fields)]
pub struct PolicyPatch {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// `None`: unchanged; `Some(None)`: cleared; `Some(Some(text))`: replaced.
    #[serde(default, deserialize_with = "present", skip_serializing_if = "Option::is_none")]
    pub description: Option<Option<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority: Option<i64>,
    /// Replaces the whole list: rules are ordered, so merging them one by one would be ambiguous.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rules: Option<Vec<Rule>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_active: Option<bool>,
}

object_only!(PolicyInput, Rule, Match, TimeWindowInput, PolicyPatch);

impl Match {
    /// Whether no condition is given, so the rule matches every request.
    pub fn is_any(&self) -> bool {
        *self == Self::default()
    }
}

impl PolicyPatch {
    /// Whether the patch changes nothing.
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }

    /// `current` with this patch's fields put in.
    pub fn apply(self, mut current: PolicyInput) -> PolicyInput {
        if let Some(name) = self.name {
            current.name = name;
        }
        if let Some(description) = self.description {
            current.description = description;
        }
        if let Some(priority) = self.priority {
            current.priority = priority;
        }
        if let Some(rules) = self.rules {
            current.rules = rules;
        }
        if let Some(is_active) = self.is_active {
            current.is_active = is_active;
        }
        current
    }
}

fn default_priority() -> i64 {
    DEFAULT_PRIORITY
}

fn default_true() -> bool {
    true
}

/// Tells a field that is present (even as `null`) from one that is absent (`#[serde(default)]`).
fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(deserializer: D) -> Result<Option<T>, D::Error> {
    T::deserialize(deserializer).map(Some)
}

#[cfg(test)]
mod tests;
