use serde_json::{Value, json};

use super::*;

/// The fields named by validating `policy` (JSON as the API takes it); empty when it is valid.
fn bad_fields(policy: Value) -> Vec<String> {
    let input: PolicyInput = serde_json::from_value(policy).expect("a well-formed policy");
    match input.validate() {
        Ok(_) => Vec::new(),
        Err(errors) => errors.into_iter().map(|error| error.field).collect(),
    }
}

/// A valid policy whose only rule is `rule`.
fn with_rule(rule: Value) -> Value {
    json!({"name": "p", "rules": [rule]})
}

#[test]
fn a_minimal_policy_is_valid_and_gets_the_defaults() {
    let input: PolicyInput =
        serde_json::from_value(with_rule(json!({"effect": "deny"}))).expect("a well-formed policy");
    let valid = input.validate().expect("a valid policy");
    assert_eq!(valid.priority, 100);
    assert!(valid.definition().is_active);
    assert_eq!(valid.rules.len(), 1);
}

#[test]
fn name_is_required_and_bounded() {
    assert_eq!(bad_fields(json!({"rules": [{"effect": "deny"}]})), ["name"]);
    assert_eq!(
        bad_fields(json!({"name": "  ", "rules": [{"effect": "deny"}]})),
        ["name"]
    );
    let long = "é".repeat(MAX_NAME_CHARS + 1);
    assert_eq!(
        bad_fields(json!({"name": long, "rules": [{"effect": "deny"}]})),
        ["name"]
    );
    let longest = "é".repeat(MAX_NAME_CHARS);
    assert_eq!(
        bad_fields(json!({"name": longest, "rules": [{"effect": "deny"}]})),
        Vec::<String>::new()
    );
}

#[test]
fn description_is_bounded() {
    let long = "x".repeat(MAX_DESCRIPTION_CHARS + 1);
    assert_eq!(
        bad_fields(json!({"name": "p", "description": long, "rules": [{"effect": "deny"}]})),
        ["description"]
    );
}

#[test]
fn priority_is_between_0_and_10000() {
    for (priority, fields) in [
        (-1, vec!["priority"]),
        (10_001, vec!["priority"]),
        (0, vec![]),
        (10_000, vec![]),
    ] {
        let policy = json!({"name": "p", "priority": priority, "rules": [{"effect": "deny"}]});
        assert_eq!(bad_fields(policy), fields, "priority {priority}");
    }
}

#[test]
fn rules_must_be_given_and_bounded() {
    assert_eq!(bad_fields(json!({"name": "p"})), ["rules"]);
    assert_eq!(bad_fields(json!({"name": "p", "rules": []})), ["rules"]);
    let many: Vec<Value> = (0..=MAX_RULES).map(|_| json!({"effect": "allow"})).collect();
    assert_eq!(bad_fields(json!({"name": "p", "rules": many})), ["rules"]);
}

#[test]
fn throttle_limit_and_window_are_at_least_one() {
    let policy = json!({"name": "p", "rules": [
        {"effect": "deny"},
        {"effect": "allow"},
        {"effect": {"type": "throttle", "limit": 0, "window_secs": 0}},
    ]});
    assert_eq!(
        bad_fields(policy),
        ["rules[2].effect.limit", "rules[2].effect.window_secs"]
    );
}

#[test]
fn condition_lists_must_not_be_empty() {
    for field in [
        "agent_ids",
        "owners",
        "model_providers",
        "frameworks",
        "scopes",
        "target_services",
        "time_windows",
    ] {
        let rule = json!({"match": {field: []}, "effect": "deny"});
        assert_eq!(bad_fields(with_rule(rule)), [format!("rules[0].match.{field}")]);
    }
}

#[test]
fn condition_lists_are_bounded() {
    let many: Vec<String> = (0..=MAX_LIST_ENTRIES).map(|i| format!("agent_{i}")).collect();
    let rule = json!({"match": {"agent_ids": many}, "effect": "deny"});
    assert_eq!(bad_fields(with_rule(rule)), ["rules[0].match.agent_ids"]);
}

#[test]
fn exact_values_must_not_be_empty_or_huge() {
    let rule =
        json!({"match": {"owners": ["ok", ""], "frameworks": ["x".repeat(MAX_VALUE_LEN + 1)]}, "effect": "deny"});
    assert_eq!(
        bad_fields(with_rule(rule)),
        ["rules[0].match.owners[1]", "rules[0].match.frameworks[0]"]
    );
}

#[test]
fn bad_patterns_are_named_by_index() {
    let rule = json!({"match": {"scopes": ["secrets.*", "sec*"], "target_services": ["a..b"]}, "effect": "deny"});
    assert_eq!(
        bad_fields(with_rule(rule)),
        ["rules[0].match.scopes[1]", "rules[0].match.target_services[0]"]
    );
}

#[test]
fn time_window_fields_are_named() {
    let rule = json!({"match": {"time_windows": [
        {"start": "09:00", "end": "17:00"},
        {"start": "25:00", "end": "17:00", "timezone": "CET", "days": ["mon", "holiday"]},
    ]}, "effect": "deny"});
    assert_eq!(
        bad_fields(with_rule(rule)),
        [
            "rules[0].match.time_windows[1].start",
            "rules[0].match.time_windows[1].timezone",
            "rules[0].match.time_windows[1].days[1]",
        ]
    );
    let first = json!({"match": {"time_windows": [{"start": "9", "end": "17:00"}]}, "effect": "deny"});
    assert_eq!(bad_fields(with_rule(first)), ["rules[0].match.time_windows[0].start"]);
}

#[test]
fn every_problem_is_reported_at_once() {
    let policy = json!({"name": "", "priority": 20_000, "rules": [
        {"match": {"scopes": [""]}, "effect": "deny"},
        {"effect": {"type": "throttle", "limit": 0, "window_secs": 60}},
    ]});
    assert_eq!(
        bad_fields(policy),
        ["name", "priority", "rules[0].match.scopes[0]", "rules[1].effect.limit"]
    );
}

#[test]
fn messages_read_as_advice() {
    let input: PolicyInput =
        serde_json::from_value(with_rule(json!({"match": {"scopes": []}, "effect": "deny"}))).expect("well-formed");
    let errors = input.validate().expect_err("an empty list is refused");
    assert_eq!(errors[0].message, "must not be empty; leave it out to match any");
}
