use super::*;

fn field_of(json: &str) -> String {
    parse_rules(json).err().map(|error| error.field).unwrap_or_default()
}

#[test]
fn each_bad_rule_names_its_field() {
    assert_eq!(field_of(r#"[{"effect": "allow"}]"#), "");
    assert_eq!(field_of(r#"{"effect": "allow"}"#), "rules");
    assert_eq!(field_of(r#"[{"effect": "allowed"}]"#), "rules[0].effect");
    assert_eq!(field_of(r#"[{"effect": "allow"}, {}]"#), "rules[1].effect");
    assert_eq!(
        field_of(r#"[{"match": {"scope": ["a"]}, "effect": "deny"}]"#),
        "rules[0].match.scope"
    );
    assert_eq!(
        field_of(r#"[{"match": {"scopes": "a"}, "effect": "deny"}]"#),
        "rules[0].match.scopes"
    );
    assert_eq!(
        field_of(r#"[{"match": {"time_windows": [{"start": "09:00"}]}, "effect": "deny"}]"#),
        "rules[0].match.time_windows[0].end"
    );
    assert_eq!(field_of(r#"[] []"#), "rules");
}

#[test]
fn rules_survive_the_round_trip() {
    let json = r#"[{"match": {"scopes": ["db.*"]}, "effect": {"type": "throttle", "limit": 5, "window_secs": 60}}]"#;
    let rules = parse_rules(json).expect("valid rules");
    assert_eq!(parse_rules(&rules_to_json(&rules)).expect("reads back"), rules);
}
