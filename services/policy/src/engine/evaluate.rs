//! Evaluation: which effect a token request gets, and which rule of which policy decided it.

use std::cmp::Ordering;

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::effect::{Effect, ThrottlePer};
use super::model::PolicyInput;
use super::request::TokenRequest;
use super::rule::CompiledRule;
use super::validate::ValidPolicy;

/// A validated policy with its id, ready to evaluate.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Policy {
    id: String,
    valid: ValidPolicy,
}

impl Policy {
    /// The policy stored under `id`.
    pub fn new(id: impl Into<String>, valid: ValidPolicy) -> Self {
        Self { id: id.into(), valid }
    }

    pub fn id(&self) -> &str {
        &self.id
    }

    pub fn name(&self) -> &str {
        &self.valid.definition.name
    }

    pub fn priority(&self) -> u16 {
        self.valid.priority
    }

    pub fn is_active(&self) -> bool {
        self.valid.definition.is_active
    }

    /// The policy as it was written.
    pub fn definition(&self) -> &PolicyInput {
        &self.valid.definition
    }

    /// The policy's verdict: its first rule that matches, with the rule's index.
    fn first_match(&self, request: &TokenRequest, now: DateTime<Utc>) -> Option<(usize, &CompiledRule)> {
        self.valid
            .rules
            .iter()
            .enumerate()
            .find(|(_, rule)| rule.matches(request, now))
    }
}

/// The outcome for one request: the effect, what decided it, and why in words.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Decision {
    pub effect: Effect,
    /// `None` when no policy matched and the account default applied.
    pub policy_id: Option<String>,
    pub policy_name: Option<String>,
    /// The index of the deciding rule within its policy's `rules`.
    pub rule_index: Option<usize>,
    /// A sentence for people (API answers, audit entries); not meant to be parsed.
    pub reason: String,
    /// Precomputed for a throttle; see [`Decision::throttle_key`].
    #[serde(skip)]
    throttle_key: Option<String>,
}

impl Decision {
    /// For a throttle, the counter the request is charged to and its limit per window in seconds:
    /// `policy:<id>` (per policy) or `policy:<id>:agent:<agent_id>` (per agent); `default` and
    /// `default:agent:<agent_id>` when the account default throttles. Keys are unique within one
    /// account; keep the counters account-scoped.
    pub fn throttle_key(&self) -> Option<(String, u32, u32)> {
        match (&self.throttle_key, self.effect) {
            (Some(key), Effect::Throttle { limit, window_secs, .. }) => Some((key.clone(), limit, window_secs)),
            _ => None,
        }
    }

    /// An allow that a person granted by approving the request a rule held: names the rule that held it.
    pub fn approved(policy_id: String, policy_name: String, rule_index: usize, approval_id: &str) -> Self {
        Self {
            effect: Effect::Allow,
            reason: format!(
                "allowed: approval {approval_id} of a request held by rule {rule_index} of policy \"{policy_name}\""
            ),
            policy_id: Some(policy_id),
            policy_name: Some(policy_name),
            rule_index: Some(rule_index),
            throttle_key: None,
        }
    }

    fn new(effect: Effect, policy: Option<(&Policy, usize)>, reason: String, request: &TokenRequest) -> Self {
        let throttle_key = match effect {
            Effect::Throttle { per, .. } => {
                let counter = policy.map_or_else(|| "default".to_owned(), |(p, _)| format!("policy:{}", p.id));
                Some(match per {
                    ThrottlePer::Policy => counter,
                    ThrottlePer::Agent => format!("{counter}:agent:{}", request.agent_id),
                })
            }
            _ => None,
        };
        Self {
            effect,
            policy_id: policy.map(|(p, _)| p.id.clone()),
            policy_name: policy.map(|(p, _)| p.name().to_owned()),
            rule_index: policy.map(|(_, index)| index),
            reason,
            throttle_key,
        }
    }
}

/// Decides `request` at `now`. Inactive policies are skipped. Each active policy's verdict is its first
/// matching rule, in order. The verdict of the highest priority wins; at equal priority the stricter
/// effect wins (deny, then require_approval, then throttle, then allow), so a tie never loosens the
/// outcome; what is left of a tie goes to the smaller policy id, so the answer does not depend on the
/// order `policies` come in. When no rule matches anywhere, `default` (the account's) applies.
///
/// One pass over `policies`, skipping those below the best priority found so far; nothing is
/// allocated until the decision itself is built.
pub fn evaluate(policies: &[Policy], request: &TokenRequest, now: DateTime<Utc>, default: Effect) -> Decision {
    let mut best: Option<(&Policy, usize, &CompiledRule)> = None;
    for policy in policies.iter().filter(|policy| policy.is_active()) {
        if best.is_some_and(|(leader, _, _)| policy.priority() < leader.priority()) {
            continue;
        }
        let Some((index, rule)) = policy.first_match(request, now) else {
            continue;
        };
        if best.is_none_or(|(leader, _, leading)| outranks((policy, rule), (leader, leading))) {
            best = Some((policy, index, rule));
        }
    }
    match best {
        Some((policy, index, rule)) => {
            let mut reason = format!(
                "{} by rule {index} of policy \"{}\" (priority {})",
                rule.effect,
                policy.name(),
                policy.priority()
            );
            if let Some(scope) = rule.conditions.caught_scope(request) {
                reason.push_str(&format!(", which covers scope \"{scope}\""));
            }
            Decision::new(rule.effect, Some((policy, index)), reason, request)
        }
        None => {
            let reason = format!("{default}: no active policy matched, so the account default applies");
            Decision::new(default, None, reason, request)
        }
    }
}

/// Whether a candidate verdict beats the current leader.
fn outranks(candidate: (&Policy, &CompiledRule), leader: (&Policy, &CompiledRule)) -> bool {
    let (policy, rule) = candidate;
    let (leading_policy, leading_rule) = leader;
    let order = policy
        .priority()
        .cmp(&leading_policy.priority())
        .then(rule.effect.strictness().cmp(&leading_rule.effect.strictness()))
        .then(leading_policy.id.cmp(&policy.id));
    order == Ordering::Greater
}

#[cfg(test)]
mod tests;
