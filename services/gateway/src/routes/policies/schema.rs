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
#[serde(deny_unknown_fields)]
#[schema(example = json!({"match": {"scopes": ["secrets.*"], "owners": ["data-team"]}, "effect": "deny"}))]
pub struct PolicyRule {
    /// Leave it out to match every request (`null` is refused).
    #[serde(rename = "match")]
    #[schema(nullable = false)]
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
///
/// Every list holds 1 to 100 entries; exact values are 1 to 256 bytes, patterns 1 to 256 bytes of
/// dot-separated segments without whitespace or control characters, `*` only as a whole segment.
#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RuleMatch {
    /// Agent ids, exactly.
    #[schema(min_items = 1, max_items = 100, min_length = 1, max_length = 256)]
    pub agent_ids: Option<Vec<String>>,
    /// Agent owners, exactly.
    #[schema(min_items = 1, max_items = 100, min_length = 1, max_length = 256)]
    pub owners: Option<Vec<String>>,
    /// Model providers, ignoring ASCII case.
    #[schema(min_items = 1, max_items = 100, min_length = 1, max_length = 256)]
    pub model_providers: Option<Vec<String>>,
    /// Agent frameworks, ignoring ASCII case.
    #[schema(min_items = 1, max_items = 100, min_length = 1, max_length = 256)]
    pub frameworks: Option<Vec<String>>,
    /// Scope patterns.
    #[schema(
        example = json!(["secrets.*", "*.read"]),
        min_items = 1,
        max_items = 100,
        min_length = 1,
        max_length = 256,
        pattern = r"^(\*|[^\s.*\u0000-\u001f\u007f-\u009f]+)(\.(\*|[^\s.*\u0000-\u001f\u007f-\u009f]+))*$"
    )]
    pub scopes: Option<Vec<String>>,
    /// Target service patterns; a token for `any` service is caught by a restricting rule naming
    /// any target.
    #[schema(
        min_items = 1,
        max_items = 100,
        min_length = 1,
        max_length = 256,
        pattern = r"^(\*|[^\s.*\u0000-\u001f\u007f-\u009f]+)(\.(\*|[^\s.*\u0000-\u001f\u007f-\u009f]+))*$"
    )]
    pub target_services: Option<Vec<String>>,
    /// The request matches when it falls in any of these windows.
    #[schema(min_items = 1, max_items = 100)]
    pub time_windows: Option<Vec<TimeWindow>>,
}

/// A weekly window `[start, end)`, crossing midnight when `end` is earlier than `start`.
/// `end` must differ from `start`.
#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"days": ["mon", "tue", "wed", "thu", "fri"], "start": "09:00", "end": "17:00", "timezone": "+02:00"}))]
pub struct TimeWindow {
    /// The days a window starts on (any case is accepted). Default: every day.
    #[schema(min_items = 1)]
    pub days: Option<Vec<DayName>>,
    /// `HH:MM` from `00:00` to `23:59`, inclusive.
    #[schema(pattern = r"^([01][0-9]|2[0-3]):[0-5][0-9]$")]
    pub start: String,
    /// `HH:MM` from `00:01` to `24:00`, exclusive.
    #[schema(pattern = r"^(00:(0[1-9]|[1-5][0-9])|(0[1-9]|1[0-9]|2[0-3]):[0-5][0-9]|24:00)$")]
    pub end: String,
    /// `UTC` (default), `Z` or a fixed offset from `-14:00` to `+14:00` like `+02:00`.
    #[schema(pattern = r"^([Uu][Tt][Cc]|[Zz]|[+-](0[0-9]|1[0-3]):[0-5][0-9]|[+-]14:00)$")]
    pub timezone: Option<String>,
}

/// A day of the week, short or full.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DayName {
    Mon,
    Tue,
    Wed,
    Thu,
    Fri,
    Sat,
    Sun,
    Monday,
    Tuesday,
    Wednesday,
    Thursday,
    Friday,
    Saturday,
    Sunday,
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
#[serde(deny_unknown_fields)]
#[schema(example = json!({"type": "throttle", "limit": 100, "window_secs": 60, "per": "agent"}))]
pub struct ThrottleEffect {
    /// `throttle`.
    #[serde(rename = "type")]
    pub kind: ThrottleTag,
    /// At least 1.
    #[schema(format = Int64, minimum = 1, maximum = 4294967295.0)]
    pub limit: u32,
    /// At least 1.
    #[schema(format = Int64, minimum = 1, maximum = 4294967295.0)]
    pub window_secs: u32,
    /// Whose requests share the budget. Default `agent` (`null` is refused).
    #[schema(nullable = false)]
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
