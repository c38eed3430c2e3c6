use chrono::TimeZone;
use serde_json::{Value, json};

use super::*;

/// A policy from its JSON (as the API takes it), validated and stored under `id`.
fn policy(id: &str, policy: Value) -> Policy {
    let input: PolicyInput = serde_json::from_value(policy).expect("a well-formed policy");
    Policy::new(id, input.validate().expect("a valid policy"))
}

/// A policy named after its id with these rules at `priority`.
fn rules(id: &str, priority: u16, rules: Value) -> Policy {
    policy(id, json!({"name": id, "priority": priority, "rules": rules}))
}

fn request(scopes: &[&str]) -> TokenRequest {
    TokenRequest {
        agent_id: "agent_1".to_owned(),
        owner: "engineering".to_owned(),
        model_provider: None,
        framework: None,
        scopes: scopes.iter().map(|scope| (*scope).to_owned()).collect(),
        target_service: "billing".to_owned(),
    }
}

fn noon() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 7, 6, 12, 0, 0)
        .single()
        .expect("a valid UTC time")
}

fn decide(policies: &[Policy], scopes: &[&str]) -> Decision {
    evaluate(policies, &request(scopes), noon(), Effect::Allow)
}

fn throttle(limit: u32, per: &str) -> Value {
    json!({"type": "throttle", "limit": limit, "window_secs": 60, "per": per})
}

#[test]
fn the_default_applies_when_nothing_matches() {
    let only_db = [rules(
        "pol_a",
        100,
        json!([{"match": {"scopes": ["db.*"]}, "effect": "deny"}]),
    )];
    for default in [Effect::Allow, Effect::Deny] {
        let decision = evaluate(&only_db, &request(&["docs.read"]), noon(), default);
        assert_eq!(decision.effect, default);
        assert_eq!(
            (decision.policy_id, decision.policy_name, decision.rule_index),
            (None, None, None)
        );
        assert!(decision.reason.contains("account default"), "{}", decision.reason);
    }
    assert_eq!(
        evaluate(&[], &request(&["a"]), noon(), Effect::Deny).effect,
        Effect::Deny
    );
}

#[test]
fn the_highest_priority_match_decides() {
    let policies = [
        rules("pol_low", 10, json!([{"effect": "deny"}])),
        rules(
            "pol_high",
            900,
            json!([{"match": {"scopes": ["docs.*"]}, "effect": "allow"}]),
        ),
        rules("pol_mid", 500, json!([{"effect": "require_approval"}])),
    ];
    let docs = decide(&policies, &["docs.read"]);
    assert_eq!(
        (docs.effect, docs.policy_id.as_deref()),
        (Effect::Allow, Some("pol_high"))
    );
    // pol_high does not cover secrets, so the next priority down decides.
    let secrets = decide(&policies, &["docs.read", "secrets.read"]);
    assert_eq!(
        (secrets.effect, secrets.policy_id.as_deref()),
        (Effect::RequireApproval, Some("pol_mid"))
    );
}

#[test]
fn at_equal_priority_the_strictest_effect_wins_in_any_order() {
    let effects = [
        json!("allow"),
        throttle(5, "agent"),
        json!("require_approval"),
        json!("deny"),
    ];
    let policies: Vec<Policy> = effects
        .iter()
        .enumerate()
        .map(|(i, effect)| rules(&format!("pol_{i}"), 100, json!([{"effect": effect}])))
        .collect();
    for skip in 0..policies.len() {
        // Drop the strictest one at a time: the next strictest must win, whatever the order.
        let mut remaining: Vec<Policy> = policies[..policies.len() - skip].to_vec();
        let expected = remaining.last().map(|p| p.id().to_owned());
        for _ in 0..remaining.len() {
            remaining.rotate_left(1);
            assert_eq!(decide(&remaining, &["a"]).policy_id, expected);
        }
    }
}

#[test]
fn a_full_tie_goes_to_the_smaller_id() {
    let a = rules("pol_a", 100, json!([{"effect": throttle(1, "agent")}]));
    let b = rules("pol_b", 100, json!([{"effect": throttle(2, "agent")}]));
    assert_eq!(
        decide(&[a.clone(), b.clone()], &["x"]).policy_id.as_deref(),
        Some("pol_a")
    );
    assert_eq!(decide(&[b, a], &["x"]).policy_id.as_deref(), Some("pol_a"));
}

#[test]
fn within_a_policy_the_first_matching_rule_decides() {
    let ordered = [rules(
        "pol_a",
        100,
        json!([
            {"match": {"owners": ["finance"]}, "effect": "deny"},
            {"match": {"scopes": ["secrets.*"]}, "effect": "allow"},
            {"match": {"scopes": ["secrets.read"]}, "effect": "deny"},
            {"effect": "require_approval"},
        ]),
    )];
    let secrets = decide(&ordered, &["secrets.read"]);
    assert_eq!((secrets.effect, secrets.rule_index), (Effect::Allow, Some(1)));
    let other = decide(&ordered, &["docs.read"]);
    assert_eq!((other.effect, other.rule_index), (Effect::RequireApproval, Some(3)));
}

#[test]
fn inactive_policies_are_ignored() {
    let inactive = policy(
        "pol_off",
        json!({"name": "off", "priority": 10000, "is_active": false,
                                            "rules": [{"effect": "deny"}]}),
    );
    let active = rules("pol_on", 1, json!([{"effect": "require_approval"}]));
    assert_eq!(decide(std::slice::from_ref(&inactive), &["a"]).effect, Effect::Allow);
    assert_eq!(decide(&[inactive, active], &["a"]).policy_id.as_deref(), Some("pol_on"));
}

#[test]
fn the_reason_names_policy_rule_and_caught_scope() {
    let policies = [policy(
        "pol_s",
        json!({"name": "protect secrets", "priority": 500,
        "rules": [{"match": {"scopes": ["secrets.*"]}, "effect": "deny"}]}),
    )];
    let decision = decide(&policies, &["docs.read", "secrets.db.read"]);
    assert_eq!(decision.policy_name.as_deref(), Some("protect secrets"));
    assert_eq!(
        decision.reason,
        r#"denied by rule 0 of policy "protect secrets" (priority 500), which covers scope "secrets.db.read""#
    );
}

#[test]
fn throttle_keys_follow_per() {
    let per_agent = [rules("pol_a", 100, json!([{"effect": throttle(10, "agent")}]))];
    let decision = decide(&per_agent, &["a"]);
    assert_eq!(
        decision.throttle_key(),
        Some(("policy:pol_a:agent:agent_1".to_owned(), 10, 60))
    );
    assert!(
        decision
            .reason
            .starts_with("throttled to 10 per 60 s per agent by rule 0"),
        "{}",
        decision.reason
    );
    let per_policy = [rules("pol_b", 100, json!([{"effect": throttle(3, "policy")}]))];
    assert_eq!(
        decide(&per_policy, &["a"]).throttle_key(),
        Some(("policy:pol_b".to_owned(), 3, 60))
    );
    let deny = [rules("pol_c", 100, json!([{"effect": "deny"}]))];
    assert_eq!(decide(&deny, &["a"]).throttle_key(), None);
}

#[test]
fn a_throttling_default_has_its_own_keys() {
    let default = Effect::Throttle {
        limit: 2,
        window_secs: 1,
        per: ThrottlePer::Agent,
    };
    let decision = evaluate(&[], &request(&["a"]), noon(), default);
    assert_eq!(
        decision.throttle_key(),
        Some(("default:agent:agent_1".to_owned(), 2, 1))
    );
}

#[test]
fn time_windows_take_part_in_the_decision() {
    let nights = [rules(
        "pol_n",
        100,
        json!([{"match": {"time_windows": [{"start": "22:00", "end": "06:00"}]}, "effect": "deny"}]),
    )];
    assert_eq!(decide(&nights, &["a"]).effect, Effect::Allow);
    let late = Utc
        .with_ymd_and_hms(2026, 7, 6, 23, 0, 0)
        .single()
        .expect("a valid UTC time");
    assert_eq!(
        evaluate(&nights, &request(&["a"]), late, Effect::Allow).effect,
        Effect::Deny
    );
}

#[test]
fn a_decision_serialises_for_the_dry_run() -> Result<(), serde_json::Error> {
    let policies = [rules("pol_a", 100, json!([{"effect": throttle(10, "agent")}]))];
    let value = serde_json::to_value(decide(&policies, &["a"]))?;
    assert_eq!(
        value["effect"],
        json!({"type": "throttle", "limit": 10, "window_secs": 60, "per": "agent"})
    );
    assert_eq!(value["policy_id"], json!("pol_a"));
    assert_eq!(value["rule_index"], json!(0));
    assert!(value.get("throttle_key").is_none());
    Ok(())
}

mod whatever_a_verifier_would_grant {
    //! The property the policy engine exists for: under a restricting rule, no scope a verifier would
    //! accept the issued token for is one the rule names.
    use latchkey_tokens::scope;
    use proptest::prelude::*;

    use super::*;

    /// Token scopes as a caller may ask for them: literals and a trailing `*` at most.
    fn requested_scope() -> impl Strategy<Value = String> {
        (
            prop::collection::vec(prop::sample::select(vec!["a", "b", "c"]), 0..=3),
            any::<bool>(),
        )
            .prop_filter_map("a scope has a segment", |(segments, open)| {
                let mut scope = segments.join(".");
                if open {
                    scope = if scope.is_empty() {
                        "*".to_owned()
                    } else {
                        format!("{scope}.*")
                    };
                }
                (!scope.is_empty()).then_some(scope)
            })
    }

    /// Rule patterns: `*` anywhere.
    fn rule_pattern() -> impl Strategy<Value = String> {
        prop::collection::vec(prop::sample::select(vec!["a", "b", "*"]), 1..=3).prop_map(|segments| segments.join("."))
    }

    fn restricting_effect() -> impl Strategy<Value = Value> {
        prop::sample::select(vec![
            json!("deny"),
            json!("require_approval"),
            json!({"type": "throttle", "limit": 1, "window_secs": 60}),
        ])
    }

    /// Every scope of 1 to 5 segments over `a`, `b`, `c`, `d`.
    fn short_scopes() -> Vec<String> {
        let mut level = vec![String::new()];
        let mut all = Vec::new();
        for _ in 0..5 {
            level = level
                .iter()
                .flat_map(|prefix| {
                    ["a", "b", "c", "d"].iter().map(move |segment| {
                        if prefix.is_empty() {
                            (*segment).to_owned()
                        } else {
                            format!("{prefix}.{segment}")
                        }
                    })
                })
                .collect();
            all.extend(level.iter().cloned());
        }
        all
    }

    proptest! {
        #[test]
        fn is_never_under_a_restricting_rule(
            patterns in prop::collection::vec(rule_pattern(), 1..=3),
            effect in restricting_effect(),
            requested in prop::collection::vec(requested_scope(), 1..=3),
        ) {
            let policies = [rules("pol_r", 100, json!([{"match": {"scopes": patterns}, "effect": effect}]))];
            let asked: Vec<&str> = requested.iter().map(String::as_str).collect();
            let decision = decide(&policies, &asked);
            if decision.effect == Effect::Allow {
                for name in short_scopes() {
                    let granted = scope::granted_covers(&requested, &name);
                    let restricted = patterns.iter().any(|pattern| scope::contains(pattern, &name));
                    prop_assert!(
                        !(granted && restricted),
                        "{requested:?} was allowed past {patterns:?} although it grants {name}"
                    );
                }
            }
        }
    }
}
