use super::*;

#[test]
fn a_new_id_is_its_prefix_and_sixteen_characters_of_the_alphabet() {
    let id = AccountId::new();
    let body = id.as_str().strip_prefix("acct_").expect("prefix");
    assert_eq!(body.len(), RANDOM_LEN);
    assert!(body.bytes().all(|b| ALPHABET.contains(&b)), "{id}");
    assert_ne!(AccountId::new(), AccountId::new());
    assert_eq!(AccountId::parse(id.as_str()), Ok(id));
}

#[test]
fn ids_minted_before_this_crate_still_parse() {
    for old in ["acct_a", "acct_someone_else", "acct_0123456789abcdef"] {
        assert!(AccountId::parse(old).is_ok(), "{old}");
    }
    // Webhook endpoints used to carry a UUIDv7 in hex.
    assert!(EndpointId::parse("whe_0190f5c1a2b37c4d8e9f0a1b2c3d4e5f").is_ok());
}

#[test]
fn another_kinds_id_is_refused_by_name() {
    let error = AccountId::parse("agent_7m2k").unwrap_err();
    assert_eq!(
        error,
        IdError::WrongPrefix {
            kind: "account",
            prefix: "acct"
        }
    );
    assert!(
        AgentId::parse("agentx_7m2k").is_err(),
        "a longer prefix is not the prefix"
    );
}

#[test]
fn wildcards_dots_spaces_and_overlong_ids_are_refused() {
    let long = format!("acct_{}", "a".repeat(MAX_BODY_LEN + 1));
    let at_limit = format!("acct_{}", "a".repeat(MAX_BODY_LEN));
    assert!(AccountId::parse(&at_limit).is_ok());
    for bad in [
        "", "acct", "acct_", "acct_*", "acct_>", "acct_a.b", "acct_a b", "acct_A", "acct_é", &long,
    ] {
        assert!(AccountId::parse(bad).is_err(), "{bad:?} should be refused");
    }
}

#[test]
fn the_error_never_echoes_what_was_sent() {
    let error = AccountId::parse("acct_<script>").unwrap_err().to_string();
    assert!(!error.contains("script"), "{error}");
}

#[test]
fn ids_serialise_as_their_text_and_deserialise_checked() {
    let id = AgentId::parse("agent_1").unwrap();
    assert_eq!(serde_json::to_string(&id).unwrap(), "\"agent_1\"");
    assert_eq!(serde_json::from_str::<AgentId>("\"agent_1\"").unwrap(), id);
    assert!(serde_json::from_str::<AgentId>("\"acct_1\"").is_err());
}

#[test]
fn untyped_kinds_share_the_generator() {
    let id = new_id("evt");
    assert!(check(&id, "evt", "event").is_ok(), "{id}");
}

#[test]
fn the_system_account_is_an_account_but_no_other_kind() {
    assert_eq!(AccountId::parse(SYSTEM_ACCOUNT), Ok(AccountId::system()));
    assert!(AccountId::system().is_system());
    assert!(!AccountId::new().is_system());
    assert!(AgentId::parse(SYSTEM_ACCOUNT).is_err());
    assert!(AccountId::parse("_system2").is_err());
}
