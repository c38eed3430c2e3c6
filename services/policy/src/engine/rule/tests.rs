use chrono::TimeZone;
use serde_json::json;

use super::*;
use crate::engine::PolicyInput;

/// The one rule of a policy made of `rule` (JSON as the API takes it), compiled.
fn compiled(rule: serde_json::Value) -> CompiledRule {
    let input: PolicyInput =
        serde_json::from_value(json!({"name": "p", "rules": [rule]})).expect("a well-formed policy");
    let valid = input.validate().expect("a valid policy");
    valid.rules[0].clone()
}

fn request(scopes: &[&str]) -> TokenRequest {
    TokenRequest {
        agent_id: "agent_1".to_owned(),
        owner: "engineering".to_owned(),
        model_provider: Some("OpenAI".to_owned()),
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

fn matches(rule: serde_json::Value, request: &TokenRequest) -> bool {
    compiled(rule).matches(request, noon())
}

#[test]
fn no_conditions_match_everything() {
    assert!(matches(json!({"effect": "deny"}), &request(&["a.b"])));
    assert!(matches(json!({"effect": "allow"}), &request(&[])));
}

#[test]
fn agent_ids_and_owners_match_exactly() {
    let req = request(&["a"]);
    assert!(matches(
        json!({"match": {"agent_ids": ["agent_0", "agent_1"]}, "effect": "deny"}),
        &req
    ));
    assert!(!matches(
        json!({"match": {"agent_ids": ["agent_2"]}, "effect": "deny"}),
        &req
    ));
    assert!(!matches(
        json!({"match": {"agent_ids": ["AGENT_1"]}, "effect": "deny"}),
        &req
    ));
    assert!(matches(
        json!({"match": {"owners": ["engineering"]}, "effect": "deny"}),
        &req
    ));
    assert!(!matches(
        json!({"match": {"owners": ["finance"]}, "effect": "deny"}),
        &req
    ));
}

#[test]
fn providers_and_frameworks_ignore_case_and_need_a_value() {
    let req = request(&["a"]);
    assert!(matches(
        json!({"match": {"model_providers": ["openai"]}, "effect": "deny"}),
        &req
    ));
    assert!(!matches(
        json!({"match": {"model_providers": ["anthropic"]}, "effect": "deny"}),
        &req
    ));
    // The agent declared no framework: a rule naming frameworks does not apply to it.
    assert!(!matches(
        json!({"match": {"frameworks": ["langchain"]}, "effect": "deny"}),
        &req
    ));
    let with_framework = TokenRequest {
        framework: Some("LangChain".to_owned()),
        ..req
    };
    assert!(matches(
        json!({"match": {"frameworks": ["langchain"]}, "effect": "deny"}),
        &with_framework
    ));
}

#[test]
fn every_given_condition_must_hold() {
    let rule = json!({"match": {"owners": ["engineering"], "scopes": ["secrets.*"]}, "effect": "deny"});
    assert!(matches(rule.clone(), &request(&["secrets.read"])));
    assert!(!matches(rule, &request(&["db.read"])));
}

#[test]
fn restricting_rules_catch_any_requested_scope() {
    for effect in [
        json!("deny"),
        json!("require_approval"),
        json!({"type": "throttle", "limit": 1, "window_secs": 1}),
    ] {
        let rule = json!({"match": {"scopes": ["secrets.*"]}, "effect": effect});
        assert!(
            matches(rule.clone(), &request(&["docs.read", "secrets.read"])),
            "{effect}"
        );
        assert!(!matches(rule.clone(), &request(&["docs.read"])), "{effect}");
        assert!(!matches(rule, &request(&[])), "{effect}");
    }
}

#[test]
fn wildcard_requests_are_caught_by_restricting_rules_on_what_they_reach() {
    // The review's findings: `*` was read as a literal scope and slipped past `secrets.*`.
    for (rule_scope, requested) in [
        ("secrets.*", "*"),
        ("secrets.read", "*"),
        ("secrets.read", "secrets.*"),
        ("*.read", "secrets.*"),
        ("db.*.write", "db.*"),
    ] {
        for effect in [
            json!("deny"),
            json!("require_approval"),
            json!({"type": "throttle", "limit": 1, "window_secs": 1}),
        ] {
            let rule = json!({"match": {"scopes": [rule_scope]}, "effect": effect});
            assert!(
                matches(rule, &request(&["docs.read", requested])),
                "{effect} on {rule_scope} must catch {requested}"
            );
        }
    }
    let deny = json!({"match": {"scopes": ["secrets.*"]}, "effect": "deny"});
    assert!(
        !matches(deny, &request(&["db.*"])),
        "db.* reaches nothing under secrets"
    );
}

#[test]
fn allow_rules_cover_a_wildcard_request_only_when_they_contain_it() {
    let rule = json!({"match": {"scopes": ["docs.*"]}, "effect": "allow"});
    assert!(matches(rule.clone(), &request(&["docs.*"])));
    assert!(matches(rule.clone(), &request(&["docs.api.*"])));
    assert!(!matches(rule.clone(), &request(&["*"])));
    let narrow = json!({"match": {"scopes": ["docs.read"]}, "effect": "allow"});
    assert!(!matches(narrow, &request(&["docs.*"])));
}

#[test]
fn allow_rules_must_cover_every_requested_scope() {
    let rule = json!({"match": {"scopes": ["docs.*", "search"]}, "effect": "allow"});
    assert!(matches(rule.clone(), &request(&["docs.read", "search"])));
    assert!(!matches(rule.clone(), &request(&["docs.read", "secrets.read"])));
    assert!(matches(rule, &request(&[])), "nothing asked, nothing uncovered");
}

#[test]
fn target_services_use_wildcards() {
    let rule = json!({"match": {"target_services": ["billing", "payments.*"]}, "effect": "deny"});
    assert!(matches(rule.clone(), &request(&["a"])));
    let elsewhere = |target: &str| TokenRequest {
        target_service: target.to_owned(),
        ..request(&["a"])
    };
    assert!(matches(rule.clone(), &elsewhere("payments.eu")));
    assert!(!matches(rule.clone(), &elsewhere("payments")));
    assert!(!matches(rule, &elsewhere("crm")));
}

#[test]
fn a_token_for_any_service_is_caught_by_restrictions_but_not_granted_by_narrow_allows() {
    let any = TokenRequest {
        target_service: ANY_TARGET.to_owned(),
        ..request(&["a"])
    };
    assert!(matches(
        json!({"match": {"target_services": ["billing"]}, "effect": "deny"}),
        &any
    ));
    assert!(!matches(
        json!({"match": {"target_services": ["billing"]}, "effect": "allow"}),
        &any
    ));
    assert!(matches(
        json!({"match": {"target_services": ["*"]}, "effect": "allow"}),
        &any
    ));
    assert!(matches(
        json!({"match": {"target_services": ["any"]}, "effect": "allow"}),
        &any
    ));
}

#[test]
fn time_windows_match_when_any_window_holds() {
    let rule = |windows: serde_json::Value| json!({"match": {"time_windows": windows}, "effect": "deny"});
    let morning = json!({"start": "08:00", "end": "11:00"});
    let lunch = json!({"start": "12:00", "end": "13:00"});
    let evening = json!({"start": "18:00", "end": "20:00"});
    assert!(matches(rule(json!([morning, lunch])), &request(&["a"])));
    assert!(!matches(rule(json!([morning, evening])), &request(&["a"])));
}

#[test]
fn caught_scope_names_what_a_restriction_caught() {
    let req = request(&["docs.read", "secrets.read"]);
    let deny = compiled(json!({"match": {"scopes": ["secrets.*"]}, "effect": "deny"}));
    assert_eq!(deny.conditions.caught_scope(&req), Some("secrets.read"));
    let allow = compiled(json!({"match": {"scopes": ["*"]}, "effect": "allow"}));
    assert_eq!(allow.conditions.caught_scope(&req), None);
    assert_eq!(compiled(json!({"effect": "deny"})).conditions.caught_scope(&req), None);
}
