//! Policy rules (`latchkey_policy::engine`): JSON as a person writes it, deserialised, validated and
//! evaluated against a request, never panics; the decision does not depend on the order policies
//! come in; a valid policy written back as JSON (as the service stores it) reads and validates to
//! the same policy; a decision names a rule that has its effect.
//!
//! Input: JSON `{"policies": [PolicyInput…], "request": TokenRequest, "now": unix seconds,
//! "default": Effect}` (readable seeds); anything else is read as one `PolicyInput` and evaluated
//! against a few fixed requests.
#![no_main]

use chrono::{DateTime, Utc};
use latchkey_policy::engine::{Decision, Effect, Policy, PolicyInput, TokenRequest, ValidPolicy, evaluate};
use libfuzzer_sys::fuzz_target;
use serde::Deserialize;
use serde_json::value::RawValue;

/// The latest clock the service could read (9999-12-31T23:59:59Z); `now` is never input.
const LAST_SECOND: i64 = 253_402_300_799;

#[derive(Deserialize)]
struct Case {
    policies: Vec<Box<RawValue>>,
    request: TokenRequest,
    #[serde(default)]
    now: i64,
    #[serde(default)]
    default: Option<Effect>,
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match serde_json::from_str::<Case>(text) {
        Ok(case) => {
            let policies: Vec<Policy> = case
                .policies
                .iter()
                .enumerate()
                .filter_map(|(index, raw)| compile(raw.get(), index))
                .collect();
            let now = DateTime::from_timestamp(case.now.clamp(0, LAST_SECOND), 0).expect("in chrono's range");
            decide(&policies, &case.request, now, case.default.unwrap_or(Effect::Deny));
        }
        Err(_) => {
            let Some(policy) = compile(text, 0) else {
                return;
            };
            let now = DateTime::from_timestamp(1_782_914_400, 0).expect("in range");
            for request in fixed_requests() {
                decide(std::slice::from_ref(&policy), &request, now, Effect::Allow);
            }
        }
    }
});

/// Reads and validates one policy; a valid one must survive the service's JSON round trip.
fn compile(json: &str, index: usize) -> Option<Policy> {
    let input: PolicyInput = serde_json::from_str(json).ok()?;
    let valid: ValidPolicy = input.validate().ok()?;
    let stored = serde_json::to_string(valid.definition()).expect("a policy serialises");
    let reread: PolicyInput = serde_json::from_str(&stored)
        .unwrap_or_else(|error| panic!("a valid policy does not read back from {stored}: {error}"));
    let revalidated = reread
        .validate()
        .unwrap_or_else(|errors| panic!("a valid policy is invalid once stored as {stored}: {errors:?}"));
    assert_eq!(revalidated, valid, "a valid policy changed through {stored}");
    Some(Policy::new(format!("pol_{index:04}"), valid))
}

/// Evaluates in both orders and checks the decision against the policies.
fn decide(policies: &[Policy], request: &TokenRequest, now: DateTime<Utc>, default: Effect) {
    let decision = evaluate(policies, request, now, default);
    let reversed: Vec<Policy> = policies.iter().rev().cloned().collect();
    assert_eq!(
        evaluate(&reversed, request, now, default),
        decision,
        "the order of policies mattered"
    );
    assert_eq!(
        decision.throttle_key().is_some(),
        matches!(decision.effect, Effect::Throttle { .. })
    );
    check_names_its_rule(policies, &decision, default);
}

fn check_names_its_rule(policies: &[Policy], decision: &Decision, default: Effect) {
    let Some(id) = &decision.policy_id else {
        assert_eq!(decision.effect, default, "no policy decided, yet not the default");
        assert_eq!(decision.rule_index, None);
        return;
    };
    let policy = policies
        .iter()
        .find(|p| p.id() == id)
        .expect("the deciding policy is one of them");
    assert!(policy.is_active(), "an inactive policy decided");
    let index = decision.rule_index.expect("a deciding policy names its rule");
    let rule = &policy.definition().rules[index];
    assert_eq!(rule.effect, decision.effect, "the decision's effect is not its rule's");
}

fn fixed_requests() -> Vec<TokenRequest> {
    let request = |scopes: &[&str], target: &str| TokenRequest {
        agent_id: "agent_a1".into(),
        owner: "platform".into(),
        model_provider: Some("OpenAI".into()),
        framework: None,
        scopes: scopes.iter().map(|s| (*s).to_owned()).collect(),
        target_service: target.into(),
    };
    vec![
        request(&["secrets.read"], "billing"),
        request(&["*"], "any"),
        request(&["db.*", "docs.read"], "billing.eu"),
    ]
}
