use latchkey_tokens::scope::{MAX_PATTERN_LEN, MAX_SCOPE_LEN, check_rule_pattern, check_scope};
use proptest::prelude::*;
use regex::Regex;
use serde_json::Value;

use super::{pattern::*, *};

fn regex(pattern: &str) -> Regex {
    Regex::new(pattern).unwrap_or_else(|error| panic!("{pattern}: {error}"))
}

/// Every character up to U+3100 (the Latin, control, space and punctuation blocks the patterns name)
/// and a few beyond.
fn characters() -> impl Iterator<Item = char> {
    (0..=0x3100u32)
        .chain([0xfeff, 0xfffd, 0x1f600, 0x10ffff])
        .filter_map(char::from_u32)
}

#[test]
fn the_text_patterns_read_characters_as_rust_does() {
    let (line, no_control, word) = (regex(LINE), regex(NO_CONTROL), regex(WORD));
    let (service, service_or_pattern, not_blank) = (regex(SERVICE), regex(SERVICE_OR_PATTERN), regex(NOT_BLANK));
    for c in characters() {
        let (control, space) = (c.is_control(), c.is_whitespace());
        let alone = c.to_string();
        let inside = format!("a{c}b");
        assert_eq!(line.is_match(&alone), !control && !space, "LINE {c:?}");
        assert_eq!(line.is_match(&inside), !control, "LINE inside {c:?}");
        assert_eq!(no_control.is_match(&inside), !control, "NO_CONTROL {c:?}");
        assert_eq!(word.is_match(&inside), !control && !space, "WORD {c:?}");
        assert_eq!(
            service.is_match(&inside),
            !control && !space && c != '*',
            "SERVICE {c:?}"
        );
        assert_eq!(
            service_or_pattern.is_match(&inside),
            !control && !space,
            "SERVICE_OR_PATTERN {c:?}"
        );
        assert_eq!(not_blank.is_match(&alone), !space, "NOT_BLANK {c:?}");
    }
    for blank in ["", " ", " \u{3000} "] {
        assert!(!line.is_match(blank) && !not_blank.is_match(blank) && !word.is_match(blank));
    }
    assert!(no_control.is_match("") && service.is_match(""));
}

#[test]
fn the_oauth_scope_pattern_is_printable_ascii_without_quotes() {
    let pattern = regex(OAUTH_SCOPE);
    for c in characters() {
        let allowed = c.is_ascii_graphic() && c != '"' && c != '\\';
        assert_eq!(pattern.is_match(&format!("a{c}b")), allowed, "{c:?}");
    }
    assert!(!pattern.is_match(""));
}

#[test]
fn the_time_patterns_take_exactly_the_policy_engines_times() {
    let (start, end, offset) = (regex(WINDOW_START), regex(WINDOW_END), regex(UTC_OFFSET));
    for hours in 0..100u32 {
        for minutes in 0..100u32 {
            let text = format!("{hours:02}:{minutes:02}");
            let total = hours * 60 + minutes;
            assert_eq!(start.is_match(&text), hours < 24 && minutes < 60, "start {text}");
            assert_eq!(
                end.is_match(&text),
                minutes < 60 && (1..=1440).contains(&total),
                "end {text}"
            );
            for sign in ['+', '-'] {
                let zone = format!("{sign}{text}");
                assert_eq!(
                    offset.is_match(&zone),
                    minutes < 60 && total <= 14 * 60,
                    "offset {zone}"
                );
            }
        }
    }
    for zone in ["UTC", "utc", "Z", "z"] {
        assert!(offset.is_match(zone), "{zone}");
    }
    for bad in ["", "1:00", "01:0", "+1:00", "GMT", "Europe/Paris", "02:00", "+02:00 "] {
        assert!(!offset.is_match(bad), "{bad}");
    }
    assert!(!start.is_match("9:00") && !end.is_match("24:01"));
}

#[test]
fn the_url_patterns_take_http_urls_only() {
    let (url, redirect) = (regex(HTTP_URL), regex(HTTP_URL_NO_FRAGMENT));
    for good in [
        "https://hooks.example.com/latchkey",
        "HTTP://example.com",
        "https://a.b:8443/x?y=1#z",
    ] {
        assert!(url.is_match(good), "{good}");
    }
    for bad in [
        "ftp://example.com",
        "https://user:pw@example.com/",
        "example.com",
        "https://",
        "https:// x",
    ] {
        assert!(!url.is_match(bad), "{bad}");
    }
    assert!(redirect.is_match("https://app.example.com/callback?x=1"));
    assert!(!redirect.is_match("https://app.example.com/callback#x"));
}

#[test]
fn the_cursor_pattern_takes_positive_sequence_numbers() {
    let pattern = regex(SEQUENCE_CURSOR);
    for text in ["", "1", "+7", "007", "999999999999999999"] {
        assert!(pattern.is_match(text), "{text}");
        assert!(
            text.is_empty() || text.parse::<i64>().is_ok_and(|seq| seq > 0),
            "{text}"
        );
    }
    for text in ["0", "-1", "x", "1.5", " 1", "99999999999999999999"] {
        assert!(!pattern.is_match(text), "{text}");
    }
}

#[test]
fn the_approval_id_pattern_takes_approval_ids() {
    let pattern = regex(APPROVAL_ID);
    for text in ["", "apr_", "apr_a1b2c3d4e5f6g7h8", &format!("apr_{}", "x".repeat(60))] {
        assert!(pattern.is_match(text), "{text}");
    }
    for text in ["apr-1", "apr_é", "pol_1", " apr_1", &format!("apr_{}", "x".repeat(61))] {
        assert!(!pattern.is_match(text), "{text}");
    }
}

/// `pattern` without its `^…$`, which proptest's generator does not take.
fn unanchored(pattern: &str) -> proptest::string::RegexGeneratorStrategy<String> {
    let inner = pattern
        .strip_prefix('^')
        .and_then(|p| p.strip_suffix('$'))
        .unwrap_or(pattern);
    proptest::string::string_regex(inner).unwrap_or_else(|error| panic!("{inner}: {error}"))
}

proptest! {
    /// The scope pattern and `check_scope` agree on every string of the characters that matter.
    #[test]
    fn the_scope_pattern_is_check_scope(text in "[a-zA-Z0-9_:.*é -]{0,12}") {
        let by_pattern = regex(SCOPE).is_match(&text) && (1..=MAX_SCOPE_LEN).contains(&text.len());
        prop_assert_eq!(by_pattern, check_scope(&text).is_ok(), "{:?}", text);
    }

    #[test]
    fn scopes_drawn_from_the_pattern_are_accepted(text in unanchored(SCOPE)) {
        prop_assume!(text.len() <= MAX_SCOPE_LEN);
        prop_assert!(check_scope(&text).is_ok(), "{:?}", text);
    }

    /// The rule pattern and `check_rule_pattern` agree likewise.
    #[test]
    fn the_rule_pattern_is_check_rule_pattern(text in "[a-z0-9.*é \t\u{85}\u{a0}]{0,10}") {
        let by_pattern = regex(RULE_PATTERN).is_match(&text) && (1..=MAX_PATTERN_LEN).contains(&text.len());
        prop_assert_eq!(by_pattern, check_rule_pattern(&text).is_ok(), "{:?}", text);
    }
}

/// What the domain pattern cannot say, and agent-token refuses besides: `localhost`, more than 253
/// characters before the trailing dot.
fn beyond_the_domain_pattern(text: &str) -> bool {
    let name = text.strip_suffix('.').unwrap_or(text).to_ascii_lowercase();
    name == "localhost" || name.ends_with(".localhost") || name.len() > 253
}

proptest! {
    /// The domain pattern and agent-token's check agree, but for what the pattern cannot say.
    #[test]
    fn the_domain_pattern_is_the_domain_check(text in "[a-zA-Z0-9.*_é -]{0,14}") {
        let by_pattern = regex(DOMAIN).is_match(&text) && !beyond_the_domain_pattern(&text);
        prop_assert_eq!(by_pattern, latchkey_agent_token::normalize_domain(&text).is_ok(), "{:?}", text);
    }

    /// The same over the characters a name is made of, where the label rules decide.
    #[test]
    fn the_domain_pattern_is_the_domain_check_for_names(text in "[a-zA-Z0-9.-]{0,12}") {
        let by_pattern = regex(DOMAIN).is_match(&text) && !beyond_the_domain_pattern(&text);
        prop_assert_eq!(by_pattern, latchkey_agent_token::normalize_domain(&text).is_ok(), "{:?}", text);
    }

    #[test]
    fn domains_drawn_from_the_pattern_are_accepted(text in unanchored(DOMAIN)) {
        prop_assume!(!beyond_the_domain_pattern(&text));
        prop_assert!(latchkey_agent_token::normalize_domain(&text).is_ok(), "{:?}", text);
    }
}

#[test]
fn the_domain_pattern_takes_the_longest_labels_and_names() {
    let label63 = "a".repeat(63);
    let domain = regex(DOMAIN);
    assert!(domain.is_match(&format!("{label63}.com")));
    assert!(!domain.is_match(&format!("{}.com", "a".repeat(64))));
    let longest = format!("{label63}.{label63}.{label63}.{}.", "b".repeat(61));
    assert!(domain.is_match(&longest) && latchkey_agent_token::normalize_domain(&longest).is_ok());
    for localhost in ["localhost.localhost", "app.localhost."] {
        assert!(domain.is_match(localhost) && latchkey_agent_token::normalize_domain(localhost).is_err());
    }
    for address in ["1.2.3.4", "example.123", "example.1a", "0x7f.0.0.1"] {
        assert!(!domain.is_match(address) && latchkey_agent_token::normalize_domain(address).is_err());
    }
}

/// The Telegram and connect-link patterns restate the oauth service's checks.
#[test]
fn the_telegram_and_link_patterns_read_characters_as_the_oauth_service_does() {
    let (session, hash, token) = (
        regex(MTPROTO_SESSION),
        regex(TELEGRAM_API_HASH),
        regex(CONNECT_LINK_TOKEN),
    );
    for c in characters() {
        let inside = format!("a{c}b");
        assert_eq!(
            session.is_match(&inside),
            latchkey_oauth::check_session_string(&inside).is_ok(),
            "MTPROTO_SESSION {c:?}"
        );
        let hash_text = format!("{c}{}", "a".repeat(31));
        assert_eq!(
            hash.is_match(&hash_text),
            latchkey_oauth::check_api_hash(&hash_text).is_ok(),
            "TELEGRAM_API_HASH {c:?}"
        );
        let token_text = format!("{c}{}", "a".repeat(42));
        assert_eq!(
            token.is_match(&token_text),
            latchkey_oauth::is_connect_link_token(&token_text),
            "CONNECT_LINK_TOKEN {c:?}"
        );
    }
    for length in [0, 31, 33] {
        assert!(!hash.is_match(&"a".repeat(length)));
    }
    for length in [0, 42, 44] {
        assert!(!token.is_match(&"a".repeat(length)));
    }
}

proptest! {
    /// The api id pattern, with the schema's 10 characters, is the check but for numbers past
    /// 2147483647, which only the check refuses.
    #[test]
    fn the_api_id_pattern_is_check_api_id(text in "[0-9a -]{0,12}") {
        let within = text.parse::<u64>().is_ok_and(|id| id <= 2_147_483_647);
        let by_pattern = regex(TELEGRAM_API_ID).is_match(&text) && text.len() <= 10 && within;
        prop_assert_eq!(by_pattern, latchkey_oauth::check_api_id(&text).is_ok(), "{:?}", text);
    }
}

proptest! {
    /// The slug pattern, with the schema's 64 characters, is the directory's check.
    #[test]
    fn the_slug_pattern_is_is_slug(text in "[a-zA-Z0-9_ /-]{0,66}") {
        prop_assert_eq!(regex(SLUG).is_match(&text), latchkey_directory::is_slug(&text), "{:?}", text);
    }

    /// The plan id pattern, with the schema's 128 characters, is the directory's check.
    #[test]
    fn the_plan_id_pattern_is_is_plan_id(text in "[a-zA-Z0-9_.:/ é-]{0,130}") {
        let by_pattern = regex(PLAN_ID).is_match(&text) && text.chars().count() <= 128;
        prop_assert_eq!(by_pattern, latchkey_directory::is_plan_id(&text), "{:?}", text);
    }

    /// The service header's pattern is two slugs.
    #[test]
    fn the_service_ref_pattern_is_two_slugs(org in "[a-z0-9-]{0,5}", service in "[a-z0-9-]{0,5}") {
        let text = format!("{org}/{service}");
        prop_assert_eq!(
            regex(SERVICE_REF).is_match(&text),
            latchkey_directory::is_slug(&org) && latchkey_directory::is_slug(&service),
            "{:?}",
            text
        );
    }
}

/// Every `pattern` in `value`, with where it is.
fn patterns_in(value: &Value, at: &str, found: &mut Vec<(String, String)>) {
    match value {
        Value::Object(map) => {
            for (key, inner) in map {
                match (key.as_str(), inner) {
                    ("pattern", Value::String(pattern)) => found.push((at.to_owned(), pattern.clone())),
                    _ => patterns_in(inner, &format!("{at}/{key}"), found),
                }
            }
        }
        Value::Array(items) => {
            for (index, inner) in items.iter().enumerate() {
                patterns_in(inner, &format!("{at}/{index}"), found);
            }
        }
        _ => {}
    }
}

fn document() -> Value {
    serde_json::to_value(crate::routes::openapi()).expect("the document serialises")
}

#[test]
fn every_pattern_in_the_document_is_one_of_the_tested_ones() {
    let mut found = Vec::new();
    patterns_in(&document(), "", &mut found);
    assert!(found.len() > 20, "{found:?}");
    for (at, pattern) in found {
        assert!(
            PATTERNS.contains(&pattern.as_str()),
            "{at}: {pattern} is not in constraints::PATTERNS"
        );
    }
}

#[test]
fn the_closed_sets_are_enumerated() {
    let doc = document();
    let schemas = &doc["components"]["schemas"];
    let values = |name: &str| -> Vec<String> {
        serde_json::from_value(schemas[name]["enum"].clone()).unwrap_or_else(|_| panic!("{name} has no enum"))
    };
    let providers = values("ProviderCode");
    assert_eq!(providers.len(), catalogue().all().count(), "{providers:?}");
    for expected in ["google", "oidc", "telegram", "openai", "vercel"] {
        assert!(
            providers.iter().any(|value| value == expected),
            "{expected} in {providers:?}"
        );
    }
    assert_eq!(
        values("OauthProviderCode"),
        ["github", "google", "microsoft", "oidc", "slack"],
        "the catalogue's oauth2 providers"
    );
    let selectors = values("EventSelector");
    for expected in [
        "*",
        "token.issued",
        "token.*",
        "endpoint.disabled",
        "policy.settings_updated",
    ] {
        assert!(
            selectors.iter().any(|value| value == expected),
            "{expected} in {selectors:?}"
        );
    }
    assert_eq!(selectors.len(), 1 + EventType::ALL.len() + categories().len());
    assert_eq!(values("EventTypeFilter").len(), selectors.len() - 1);
}

#[test]
fn every_link_names_an_operation_of_the_document() {
    let doc = document();
    let operations: Vec<&str> = doc["paths"]
        .as_object()
        .into_iter()
        .flat_map(|paths| paths.values())
        .filter_map(Value::as_object)
        .flat_map(|item| item.values())
        .filter_map(|operation| operation["operationId"].as_str())
        .collect();
    let mut links = 0;
    for item in doc["paths"].as_object().into_iter().flat_map(|paths| paths.values()) {
        for operation in item.as_object().into_iter().flat_map(|ops| ops.values()) {
            for response in operation["responses"].as_object().into_iter().flat_map(|r| r.values()) {
                for (name, link) in response["links"].as_object().into_iter().flatten() {
                    let target = link["operationId"].as_str().unwrap_or_default();
                    assert!(
                        operations.contains(&target),
                        "link {name} names no operation: {target:?}"
                    );
                    links += 1;
                }
            }
        }
    }
    assert!(links >= 8, "{links} links");
}

#[test]
fn the_request_bodies_state_the_checks_behind_them() {
    let doc = document();
    let schemas = "/components/schemas";
    let expected: &[(&str, Value)] = &[
        ("/IssueTokenBody/properties/scope/minItems", 1.into()),
        ("/IssueTokenBody/properties/scope/maxItems", 50.into()),
        ("/IssueTokenBody/properties/scope/items/maxLength", 128.into()),
        ("/IssueTokenBody/properties/scope/items/pattern", SCOPE.into()),
        ("/IssueTokenBody/properties/target_service/pattern", SERVICE.into()),
        ("/DelegateTokenBody/properties/scope/items/pattern", SCOPE.into()),
        ("/EvaluateBody/properties/scope/items/pattern", SCOPE.into()),
        ("/VerifyBatchBody/properties/tokens/maxItems", 100.into()),
        ("/CreateAgentBody/properties/name/pattern", LINE.into()),
        ("/CreateAgentBody/properties/name/maxLength", 100.into()),
        ("/CreatePolicyBody/properties/rules/maxItems", 100.into()),
        ("/RuleMatch/properties/scopes/items/pattern", RULE_PATTERN.into()),
        ("/TimeWindow/properties/start/pattern", WINDOW_START.into()),
        ("/TimeWindow/properties/timezone/pattern", UTC_OFFSET.into()),
        ("/ThrottleEffect/properties/limit/minimum", 1.into()),
        ("/CreateWebhookBody/properties/url/pattern", HTTP_URL.into()),
        ("/CreateWebhookBody/properties/events/maxItems", 64.into()),
        (
            "/CreateWebhookBody/properties/events/items/$ref",
            "#/components/schemas/EventSelector".into(),
        ),
        (
            "/CreateSessionBody/properties/provider/$ref",
            "#/components/schemas/OauthProviderCode".into(),
        ),
        (
            "/FetchTokenBody/properties/provider/$ref",
            "#/components/schemas/ProviderCode".into(),
        ),
        ("/OauthAppInput/properties/clientId/pattern", WORD.into()),
        (
            "/RedirectUrisBody/properties/redirectUris/items/pattern",
            HTTP_URL_NO_FRAGMENT.into(),
        ),
        ("/CreateOrganizationBody/properties/slug/pattern", SLUG.into()),
        ("/CreateServiceBody/properties/slug/pattern", SLUG.into()),
        ("/CreateSubscriptionBody/properties/plan_id/pattern", PLAN_ID.into()),
        ("/CreateSubscriptionBody/properties/plan_id/maxLength", 128.into()),
        ("/CreateUserBody/properties/email/maxLength", 254.into()),
    ];
    for (pointer, value) in expected {
        let pointer = format!("{schemas}{pointer}");
        assert_eq!(doc.pointer(&pointer), Some(value), "{pointer}");
    }
    // `match: null` and `per: null` are refused, so the document must not offer them.
    assert_eq!(
        doc.pointer(&format!("{schemas}/PolicyRule/properties/match/type")),
        None
    );
    let provider = "/paths/~1auth~1{provider}/get/parameters/0/schema/$ref";
    assert_eq!(
        doc.pointer(provider),
        Some(&Value::from("#/components/schemas/OauthProviderCode"))
    );
}
