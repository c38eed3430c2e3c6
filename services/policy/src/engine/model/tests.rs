use serde_json::{Value, json};

use super::*;
use crate::engine::ThrottlePer;

/// The example in the engine's module documentation, verbatim.
fn documented_policy() -> Value {
    json!({
      "name": "protect secrets",
      "description": "secrets only in office hours, and only for the platform team",
      "priority": 500,
      "rules": [
        {"match": {"scopes": ["secrets.*"], "owners": ["platform"],
                   "time_windows": [{"days": ["mon", "tue", "wed", "thu", "fri"],
                                     "start": "09:00", "end": "17:00", "timezone": "+02:00"}]},
         "effect": "allow"},
        {"match": {"scopes": ["secrets.*"], "model_providers": ["openai"]},
         "effect": "require_approval"},
        {"match": {"scopes": ["db.*.write"], "target_services": ["billing", "billing.*"]},
         "effect": {"type": "throttle", "limit": 100, "window_secs": 60, "per": "agent"}},
        {"match": {"scopes": ["secrets.*"]}, "effect": "deny"}
      ]
    })
}

fn parse<T: serde::de::DeserializeOwned>(value: Value) -> Result<T, String> {
    serde_json::from_value(value).map_err(|error| error.to_string())
}

#[test]
fn the_documented_policy_round_trips() -> Result<(), String> {
    let policy: PolicyInput = parse(documented_policy())?;
    assert_eq!(policy.priority, 500);
    assert_eq!(
        policy.rules[2].effect,
        Effect::Throttle {
            limit: 100,
            window_secs: 60,
            per: ThrottlePer::Agent
        }
    );
    let mut expected = documented_policy();
    expected["is_active"] = json!(true);
    assert_eq!(serde_json::to_value(&policy).map_err(|e| e.to_string())?, expected);
    policy.validate().map_err(|errors| format!("{errors:?}"))?;
    Ok(())
}

#[test]
fn the_documented_rule_round_trips() -> Result<(), String> {
    let written = json!({"match": {"scopes": ["secrets.*"], "owners": ["data-team"]}, "effect": "deny"});
    let rule: Rule = parse(written.clone())?;
    assert_eq!(rule.conditions.owners, Some(vec!["data-team".to_owned()]));
    assert_eq!(serde_json::to_value(&rule).map_err(|e| e.to_string())?, written);
    let catch_all: Rule = parse(json!({"effect": "allow"}))?;
    assert!(catch_all.conditions.is_any());
    assert_eq!(
        serde_json::to_value(&catch_all).map_err(|e| e.to_string())?,
        json!({"effect": "allow"})
    );
    Ok(())
}

#[test]
fn defaults_fill_what_is_left_out() -> Result<(), String> {
    let policy: PolicyInput = parse(json!({"name": "p", "rules": [{"effect": "deny"}]}))?;
    assert_eq!(policy.priority, DEFAULT_PRIORITY);
    assert!(policy.is_active);
    assert_eq!(policy.description, None);
    Ok(())
}

#[test]
fn effects_take_a_string_or_a_tagged_object() -> Result<(), String> {
    assert_eq!(parse::<Effect>(json!("allow"))?, Effect::Allow);
    assert_eq!(parse::<Effect>(json!({"type": "deny"}))?, Effect::Deny);
    assert_eq!(
        parse::<Effect>(json!({"type": "require_approval"}))?,
        Effect::RequireApproval
    );
    let per_policy = parse::<Effect>(json!({"type": "throttle", "limit": 5, "window_secs": 10, "per": "policy"}))?;
    assert_eq!(
        per_policy,
        Effect::Throttle {
            limit: 5,
            window_secs: 10,
            per: ThrottlePer::Policy
        }
    );
    assert_eq!(
        serde_json::to_value(Effect::RequireApproval).map_err(|e| e.to_string())?,
        json!("require_approval")
    );
    Ok(())
}

#[test]
fn bad_effects_are_refused_with_a_clear_message() {
    let unknown = parse::<Rule>(json!({"effect": "block"})).expect_err("no such effect");
    assert!(unknown.contains("unknown variant `block`"), "{unknown}");
    assert!(unknown.contains("`require_approval`"), "{unknown}");
    let tagged = parse::<Effect>(json!({"type": "block"})).expect_err("no such effect");
    assert!(tagged.contains("unknown variant `block`"), "{tagged}");
    let bare_throttle = parse::<Effect>(json!("throttle")).expect_err("a throttle needs parameters");
    assert!(bare_throttle.contains(r#""limit": 10"#), "{bare_throttle}");
    let missing = parse::<Effect>(json!({"type": "throttle", "limit": 5})).expect_err("no window");
    assert!(missing.contains("window_secs"), "{missing}");
    let extra = parse::<Effect>(json!({"type": "deny", "limit": 5})).expect_err("deny takes nothing");
    assert!(extra.contains("limit"), "{extra}");
    let per = parse::<Effect>(json!({"type": "throttle", "limit": 1, "window_secs": 1, "per": "owner"}));
    assert!(per.is_err());
    assert!(parse::<Effect>(json!(3)).is_err());
}

#[test]
fn unknown_fields_are_refused_everywhere() {
    let misspelt = parse::<Rule>(json!({"match": {"scope": ["a"]}, "effect": "allow"})).expect_err("misspelt");
    assert!(misspelt.contains("unknown field `scope`"), "{misspelt}");
    assert!(parse::<PolicyInput>(json!({"name": "p", "rules": [], "enabled": true})).is_err());
    assert!(parse::<Rule>(json!({"effect": "deny", "when": {}})).is_err());
    assert!(parse::<TimeWindowInput>(json!({"start": "09:00", "end": "10:00", "tz": "UTC"})).is_err());
    assert!(parse::<PolicyPatch>(json!({"active": false})).is_err());
}

#[test]
fn a_patch_changes_only_what_it_names() -> Result<(), String> {
    let current: PolicyInput = parse(documented_policy())?;
    let patch: PolicyPatch = parse(json!({"is_active": false, "priority": 7}))?;
    assert!(!patch.is_empty());
    let patched = patch.apply(current.clone());
    assert!(!patched.is_active);
    assert_eq!(patched.priority, 7);
    assert_eq!(
        (&patched.name, &patched.description, &patched.rules),
        (&current.name, &current.description, &current.rules)
    );
    let rules: PolicyPatch = parse(json!({"name": "renamed", "rules": [{"effect": "deny"}]}))?;
    let patched = rules.apply(current);
    assert_eq!(patched.name, "renamed");
    assert_eq!(patched.rules.len(), 1);
    Ok(())
}

#[test]
fn a_patch_tells_a_cleared_description_from_an_absent_one() -> Result<(), String> {
    let current: PolicyInput = parse(documented_policy())?;
    let absent: PolicyPatch = parse(json!({}))?;
    assert!(absent.is_empty());
    assert_eq!(absent.apply(current.clone()).description, current.description);
    let cleared: PolicyPatch = parse(json!({"description": null}))?;
    assert_eq!(cleared.description, Some(None));
    assert_eq!(cleared.apply(current.clone()).description, None);
    let replaced: PolicyPatch = parse(json!({"description": "new"}))?;
    assert_eq!(replaced.apply(current).description.as_deref(), Some("new"));
    Ok(())
}

#[test]
fn a_struct_written_as_an_array_is_refused_at_every_level() {
    let arrays = [
        ("a policy", json!(["p", null, 100, [], true])),
        ("a rule", json!({"name": "p", "rules": [[null, "deny"]]})),
        (
            "a match",
            json!({"name": "p", "rules": [{"match": [null, null], "effect": "deny"}]}),
        ),
        (
            "a time window",
            json!({"name": "p", "rules": [{"match": {"time_windows": [[null, "09:00", "17:00"]]}, "effect": "deny"}]}),
        ),
    ];
    for (what, written) in arrays {
        let error = parse::<PolicyInput>(written.clone()).expect_err(what);
        assert!(error.contains("expected struct"), "{what}: {error}");
        let text = written.to_string();
        let error = serde_json::from_str::<PolicyInput>(&text).expect_err(what).to_string();
        assert!(error.contains("expected struct"), "{what} from text: {error}");
    }
    let patch = parse::<PolicyPatch>(json!([null, null, 5])).expect_err("a patch");
    assert!(patch.contains("expected struct PolicyPatch"), "{patch}");
}
