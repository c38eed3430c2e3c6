//! The request and response bodies of `/v1/policies`.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use super::schema::PolicyRule;

/// A new policy.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreatePolicyBody {
    /// 1 to 200 characters, not blank.
    #[schema(min_length = 1, max_length = 200, pattern = r"\S", example = "protect secrets")]
    pub name: String,
    /// Up to 2000 characters.
    #[schema(max_length = 2000)]
    pub description: Option<String>,
    /// 0 to 10000; higher wins. Default 100.
    #[schema(minimum = 0, maximum = 10000)]
    pub priority: Option<i64>,
    /// 1 to 100 rules, in order: a policy's first matching rule is its verdict.
    #[schema(value_type = Vec<PolicyRule>, min_items = 1, max_items = 100)]
    pub rules: Vec<Value>,
    /// Default true; an inactive policy is ignored by evaluation.
    pub is_active: Option<bool>,
}

/// A partial update: fields left out keep their value.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdatePolicyBody {
    /// 1 to 200 characters, not blank.
    #[schema(min_length = 1, max_length = 200, pattern = r"\S")]
    pub name: Option<String>,
    /// Up to 2000 characters; `null` removes the description.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>, max_length = 2000)]
    pub description: Option<Option<String>>,
    /// 0 to 10000; higher wins.
    #[schema(minimum = 0, maximum = 10000)]
    pub priority: Option<i64>,
    /// 1 to 100 rules; replaces the whole list (rules are ordered, so they are not merged).
    #[schema(value_type = Option<Vec<PolicyRule>>, min_items = 1, max_items = 100)]
    pub rules: Option<Vec<Value>>,
    /// `false` deactivates the policy (a `policy.deactivated` event); `true` reactivates it.
    pub is_active: Option<bool>,
}

/// A policy.
#[derive(Debug, Serialize, ToSchema)]
pub struct PolicyBody {
    #[schema(example = "pol_7m2k9q4r8s1t5v3w")]
    pub id: String,
    pub name: String,
    pub description: Option<String>,
    pub priority: i64,
    #[schema(value_type = Vec<PolicyRule>)]
    pub rules: Vec<Value>,
    pub is_active: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// Every policy of the account, highest priority first.
#[derive(Debug, Serialize, ToSchema)]
pub struct PolicyList {
    pub data: Vec<PolicyBody>,
}

/// A token request to evaluate, as `POST /v1/tokens` takes it. `ttl` and `intent` are accepted so a
/// token request can be evaluated as it is; they do not change the decision.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EvaluateBody {
    #[schema(pattern = r"\S", example = "agent_a1b2c3d4e5f6g7h8")]
    pub agent_id: String,
    /// 1 to 50 scopes, written as for `POST /v1/tokens`.
    #[schema(
        example = json!(["secrets.read"]),
        min_items = 1,
        max_items = 50,
        min_length = 1,
        max_length = 128,
        pattern = r"^(\*|[A-Za-z0-9_:-]+(\.[A-Za-z0-9_:-]+)*(\.\*)?)$"
    )]
    pub scope: Vec<String>,
    /// Up to 128 bytes without whitespace or control characters. Default (or empty) `any`.
    #[schema(max_length = 128, pattern = r"^[^\s\u0000-\u001f\u007f-\u009f]*$")]
    pub target_service: Option<String>,
    /// Accepted and ignored: a token's lifetime does not change the decision.
    #[expect(dead_code, reason = "accepted so a token request evaluates as it is")]
    pub ttl: Option<i64>,
    /// Accepted and ignored: the intent does not change the decision.
    #[expect(dead_code, reason = "accepted so a token request evaluates as it is")]
    pub intent: Option<String>,
}

/// What would happen to the request.
#[derive(Debug, Serialize, ToSchema)]
pub struct EvaluationBody {
    /// `allow`, `deny`, `throttle` or `require_approval`.
    #[schema(example = "deny")]
    pub effect: String,
    pub decision: DecisionBody,
    /// Whether a token would be issued now: the effect is allow or throttle (the dry run does not
    /// consult the throttle's counters) and the agent is active.
    pub would_issue: bool,
}

/// Which rule decided, and why.
#[derive(Debug, Serialize, ToSchema)]
pub struct DecisionBody {
    /// `null` when no policy matched and the account's default effect applied.
    pub policy_id: Option<String>,
    pub policy_name: Option<String>,
    /// The deciding rule's index within the policy's `rules`.
    pub rule_index: Option<u32>,
    /// A sentence for people; not meant to be parsed.
    #[schema(
        example = "denied by rule 0 of policy \"protect secrets\" (priority 500), which covers scope \"secrets.read\""
    )]
    pub reason: String,
    /// The throttle's limit, for a throttle.
    pub throttle: Option<ThrottleBody>,
}

/// A throttle's budget.
#[derive(Debug, Serialize, ToSchema)]
pub struct ThrottleBody {
    pub limit: u32,
    pub window_secs: u32,
    /// `agent` or `policy`.
    pub per: String,
}

/// What applies when no active policy matches a request.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DefaultEffect {
    Allow,
    Deny,
}

/// The account's policy settings.
#[derive(Debug, Serialize, ToSchema)]
pub struct PolicySettingsBody {
    /// `allow` (the default: an account without policies can issue tokens, bounded by their scope,
    /// audience and lifetime) or `deny` (nothing is issued without a policy allowing it).
    pub default_effect: DefaultEffect,
    /// `null` while the account never changed its settings.
    pub updated_at: Option<DateTime<Utc>>,
}

/// New policy settings.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdatePolicySettingsBody {
    pub default_effect: DefaultEffect,
}

/// Tells a field that is present (even as `null`) from one that is absent (`#[serde(default)]`).
fn present<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(deserializer).map(Some)
}
