//! The policy engine: the policy model the REST API accepts, its validation, and evaluation of a token
//! request against an account's policies. Pure code: no storage, no network, no clock (the caller
//! passes `now`). Throttle counting needs state shared across instances and lives with the database;
//! the engine only says which counter a throttled request is charged to ([`Decision::throttle_key`]).
//!
//! # The JSON a person writes
//!
//! ```json
//! {
//!   "name": "protect secrets",
//!   "description": "secrets only in office hours, and only for the platform team",
//!   "priority": 500,
//!   "rules": [
//!     {"match": {"scopes": ["secrets.*"], "owners": ["platform"],
//!                "time_windows": [{"days": ["mon", "tue", "wed", "thu", "fri"],
//!                                  "start": "09:00", "end": "17:00", "timezone": "+02:00"}]},
//!      "effect": "allow"},
//!     {"match": {"scopes": ["secrets.*"], "model_providers": ["openai"]},
//!      "effect": "require_approval"},
//!     {"match": {"scopes": ["db.*.write"], "target_services": ["billing", "billing.*"]},
//!      "effect": {"type": "throttle", "limit": 100, "window_secs": 60, "per": "agent"}},
//!     {"match": {"scopes": ["secrets.*"]}, "effect": "deny"}
//!   ]
//! }
//! ```
//!
//! - `priority` (0–10000, default 100) and `is_active` (default true) may be left out.
//! - A rule is `{"match": {..}, "effect": ..}`. Every condition in `match` is optional and a rule
//!   matches when all the given ones do; `match` itself may be left out to match every request.
//!   Conditions: `agent_ids`, `owners` (exact), `model_providers`, `frameworks` (ignoring ASCII case),
//!   `scopes`, `target_services` (wildcard patterns) and `time_windows` (any one of them).
//! - Patterns are dot-separated: a trailing `*` is everything below (`secrets.*` covers
//!   `secrets.read` and `secrets.db.read`, never `secrets` or `secretsx.read`), any other `*` is one
//!   segment (`*.read`), and `*` alone is everything. The grammar and its two relations (containment,
//!   overlap) are `latchkey_tokens::scope`, shared with token issue, delegation and verification.
//! - Effects: `"allow"`, `"deny"`, `"require_approval"`, or an object tagged by `type`; throttle is
//!   always the object `{"type": "throttle", "limit": N, "window_secs": S, "per": "agent"|"policy"}`.
//! - Time windows are `[start, end)` in `HH:MM`, `end` up to `24:00`, crossing midnight when `end` is
//!   earlier; `days` (default every day) names the day a window starts on; `timezone` is `UTC` (default)
//!   or a fixed offset like `+02:00`.
//!
//! # How a request with several scopes matches
//!
//! It depends on the effect, so that asking for more never slips past a rule. A requested scope may
//! itself be a pattern (`db.*`, `*`). A deny, throttle or require_approval rule matches when **any**
//! requested scope *overlaps* one of its patterns (some scope both stand for): a request for
//! `docs.read` and `secrets.read` is denied by a rule that denies `secrets.*`, and so are requests
//! for `*` or `secrets.*` by a rule that denies `secrets.read`. An allow rule matches only when
//! **every** requested scope is *contained* in one of its patterns: otherwise a rule allowing
//! `docs.*` above a deny would hand out `secrets.read` along with `docs.read`. The same reading applies to a token for `any`
//! target service: a restricting rule naming `billing` catches it (it could be used at billing); an
//! allow rule only covers it if one of its patterns matches `any` itself (`*` or `any`).
//!
//! # Who decides
//!
//! Among active policies, the highest priority with a matching rule decides; within a policy the first
//! matching rule is its verdict; at equal priority deny beats require_approval beats throttle beats
//! allow. No match anywhere: the account default. See [`evaluate`].

mod effect;
mod evaluate;
mod model;
mod request;
mod rule;
mod time_window;
mod validate;

pub use effect::{Effect, ThrottlePer};
pub use evaluate::{Decision, Policy, evaluate};
pub use latchkey_tokens::scope::{MAX_PATTERN_LEN, ScopeError, ScopePattern};
pub use model::{DEFAULT_PRIORITY, Match, PolicyInput, PolicyPatch, Rule, TimeWindowInput};
pub use request::{ANY_TARGET, TokenRequest};
pub use time_window::{TimeWindow, TimeWindowError};
pub use validate::{
    MAX_DESCRIPTION_CHARS, MAX_LIST_ENTRIES, MAX_NAME_CHARS, MAX_PRIORITY, MAX_RULES, MAX_VALUE_LEN, ValidPolicy,
};
