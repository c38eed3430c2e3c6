//! The shape of a policy rule, for the OpenAPI document only. Rules travel to the policy service as
//! JSON and its engine decides what a valid rule is (and names the field at fault when one is not);
//! these types describe that shape to API clients and must follow the engine's `model` and `effect`.

#![allow(dead_code, reason = "never constructed: only their derived OpenAPI schemas are used")]

use serde::Serialize;
use utoipa::ToSchema;

/// One rule: when a request matches every condition in `match`, `effect` applies. Within a policy the
/// first matching rule is its verdict; among policies the highest priority decides, and at equal
/// priority deny beats require_approval beats throttle beats allow. A rule without `match` matches
/// every request.
#[derive(Serialize, ToSchema)]
#[schema(example = json!({"match": {"scopes": ["secrets.*"], "owners": ["data-team"]}, "effect": "deny"}))]
pub struct PolicyRule {
    #[serde(rename = "match")]
    pub conditions: Option<RuleMatch>,
    pub effect: RuleEffect,
}

/// The conditions of a rule; each is optional (absent: any request) and a given list must not be
/// empty. A request matches a list when its value is one of the entries.
///
/// Scope and target patterns are dot-separated: a trailing `*` is everything below (`secrets.*`
/// covers `secrets.read` and `secrets.db.read`), any other `*` is one segment (`*.read`), `*` alone
/// is everything. A deny, throttle or require_approval rule matches when **any** requested scope
/// matches; an allow rule only when **every** requested scope does, so asking for more never slips
/// past a rule.
#[derive(Serialize, ToSchema)]
pub struct RuleMatch {
    /// Agent ids, exactly.
    pub agent_ids: Option<Vec<String>>,
    /// Agent owners, exactly.
    pub owners: Option<Vec<String>>,
    /// Model providers, ignoring ASCII case.
    pub model_providers: Option<Vec<String>>,
    /// Agent frameworks, ignoring ASCII case.
    pub frameworks: Option<Vec<String>>,
    /// Scope patterns.
    #[schema(example = json!(["secrets.*", "*.read"]))]
    pub scopes: Option<Vec<String>>,
    /// Target service patterns; a token for `any` service is caught by a restricting rule naming
    /// any target.
    pub target_services: Option<Vec<String>>,
    /// The request matches when it falls in any of these windows.
    pub time_windows: Option<Vec<TimeWindow>>,
}

/// A weekly window `[start, end)`, crossing midnight when `end` is earlier than `start`.
#[derive(Serialize, ToSchema)]
#[schema(example = json!({"days": ["mon", "tue", "wed", "thu", "fri"], "start": "09:00", "end": "17:00", "timezone": "+02:00"}))]
pub struct TimeWindow {
    /// `mon`..`sun` (or full names), the day a window starts on. Default: every day.
    pub days: Option<Vec<String>>,
    /// `HH:MM`, inclusive.
    pub start: String,
    /// `HH:MM` up to `24:00`, exclusive.
    pub end: String,
    /// `UTC` (default) or a fixed offset like `+02:00`.
    pub timezone: Option<String>,
}

/// What a matching rule does: `"allow"`, `"deny"`, `"require_approval"`, or a throttle object. Every
/// effect may also be written as an object tagged by `type` (`{"type": "deny"}`).
#[derive(Serialize, ToSchema)]
#[serde(untagged)]
pub enum RuleEffect {
    Named(EffectName),
    Throttle(ThrottleEffect),
}

/// An effect without parameters.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum EffectName {
    Allow,
    Deny,
    RequireApproval,
}

/// At most `limit` tokens per `window_secs`, counted per agent or across the whole policy.
#[derive(Serialize, ToSchema)]
#[schema(example = json!({"type": "throttle", "limit": 100, "window_secs": 60, "per": "agent"}))]
pub struct ThrottleEffect {
    /// `throttle`.
    #[serde(rename = "type")]
    pub kind: ThrottleTag,
    /// At least 1.
    #[schema(minimum = 1)]
    pub limit: u32,
    /// At least 1.
    #[schema(minimum = 1)]
    pub window_secs: u32,
    /// Whose requests share the budget. Default `agent`.
    pub per: Option<ThrottlePer>,
}

/// The tag of a throttle effect.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ThrottleTag {
    Throttle,
}

/// Whose requests a throttle counts together.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ThrottlePer {
    /// Each agent has its own budget.
    Agent,
    /// Every agent the policy matches shares one budget.
    Policy,
}
