use super::*;

#[test]
fn field_names_follow_agnt() {
    assert_eq!(key_field("openai"), "openaiApiKey");
    assert_eq!(has_field("openai"), "hasOpenaiApiKey");
    assert_eq!(last4_field("anthropic"), "anthropicApiKeyLast4");
}

/// Every `api_key` provider of the catalogue, and Google, can have its key stored; an OAuth-only
/// provider cannot.
#[test]
fn the_catalogue_says_whose_keys_can_be_stored() {
    let body = |field: &str| -> Map<String, Value> {
        serde_json::from_value(serde_json::json!({ field: "key-1234" })).unwrap()
    };
    for code in ["openai", "anthropic", "google", "mongodb", "vercel"] {
        let (writes, _) =
            parse_update(constraints::catalogue(), body(&key_field(code))).unwrap_or_else(|_| panic!("{code} refused"));
        assert_eq!(
            writes.iter().map(|write| write.code.as_str()).collect::<Vec<_>>(),
            [code]
        );
    }
    for code in ["github", "telegram", "nope"] {
        assert!(
            parse_update(constraints::catalogue(), body(&key_field(code))).is_err(),
            "{code} accepted"
        );
    }
}

#[test]
fn a_bad_body_names_every_field_and_keeps_nothing() {
    let body: Map<String, Value> = serde_json::from_value(serde_json::json!({
        "openaiApiKey": "sk-good-key-123456",
        "nopeApiKey": "x",
        "anthropicApiKey": 7,
        "googleApiKey": "  ",
        "writeOnly": "yes",
    }))
    .unwrap();
    let Err(Problem(error)) = parse_update(constraints::catalogue(), body) else {
        panic!("accepted a bad body");
    };
    let mut fields: Vec<_> = error.errors.iter().map(|e| e.field.as_str()).collect();
    fields.sort_unstable();
    assert_eq!(fields, ["anthropicApiKey", "googleApiKey", "nopeApiKey", "writeOnly"]);
    assert!(!error.message.contains("sk-good"));
}
