use super::*;

fn field_of(error: OauthError) -> String {
    match error {
        OauthError::Invalid(error) => error.errors[0].field.clone(),
        other => panic!("not a validation error: {other:?}"),
    }
}

#[test]
fn an_api_id_is_a_positive_32_bit_number() {
    assert_eq!(check_api_id("12345").unwrap(), "12345");
    assert_eq!(check_api_id("2147483647").unwrap(), "2147483647");
    assert_eq!(check_api_id("007").unwrap(), "7", "kept as the number it is");
    for bad in [
        "",
        " ",
        "0",
        "-1",
        "2147483648",
        "9999999999",
        "12345678901",
        "12a",
        "1.5",
        " 12",
        "١٢",
    ] {
        assert_eq!(field_of(check_api_id(bad).unwrap_err()), "apiId", "{bad:?}");
    }
}

#[test]
fn an_api_hash_is_32_hex_characters_kept_in_lower_case() {
    let hash = "0123456789abcdef0123456789ABCDEF";
    assert_eq!(check_api_hash(hash).unwrap(), hash.to_ascii_lowercase());
    for bad in [
        "",
        &hash[..31],
        format!("{hash}0").as_str(),
        hash.replace('0', "g").as_str(),
        hash.replace('1', " ").as_str(),
    ] {
        assert_eq!(field_of(check_api_hash(bad).unwrap_err()), "apiHash", "{bad:?}");
    }
}

#[test]
fn a_session_string_is_bounded_printable_ascii() {
    check_session_string("1BVtsOKABu3nC-9xm_5JqQ==").unwrap();
    check_session_string(&"a".repeat(MAX_SESSION_STRING_LEN)).unwrap();
    for bad in [
        String::new(),
        "a".repeat(MAX_SESSION_STRING_LEN + 1),
        "with space".to_owned(),
        "line\nbreak".to_owned(),
        "tab\t".to_owned(),
        "é".to_owned(),
    ] {
        assert_eq!(
            field_of(check_session_string(&bad).unwrap_err()),
            "sessionString",
            "{bad:?}"
        );
    }
}

#[test]
fn the_stored_json_ends_with_the_api_id_and_debug_hides_the_secrets() {
    let stored = StoredSession {
        session_string: "session-canary".to_owned(),
        api_hash: "hash-canary".to_owned(),
        api_id: "12345".to_owned(),
    };
    let json = String::from_utf8(serde_json::to_vec(&stored).unwrap()).unwrap();
    assert!(json.ends_with("\"api_id\":\"12345\"}"), "{json}");
    let opened = OpenedSession {
        session_string: "session-canary".to_owned(),
        api_id: "12345".to_owned(),
        api_hash: "hash-canary".to_owned(),
    };
    let shown = format!("{opened:?}");
    assert!(!shown.contains("canary") && shown.contains("12345"), "{shown}");
    assert_eq!(last4("0123456789abcdef"), "cdef");
}
