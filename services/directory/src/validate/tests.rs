use super::*;

#[test]
fn slugs_are_path_safe_and_bounded() {
    for good in ["a", "acme", "main-app", "a1-b2", &"a".repeat(64)] {
        assert!(slug("slug", good).is_ok(), "{good}");
    }
    for bad in [
        "",
        "-a",
        "a-",
        "Acme",
        "a_b",
        "a b",
        "a/b",
        "*",
        "%2e%2e",
        "..",
        &"a".repeat(65),
        "é",
    ] {
        assert!(slug("slug", bad).is_err(), "{bad:?} accepted");
    }
}

#[test]
fn emails_are_checked_and_their_domain_lowercased() {
    assert_eq!(email(" User@Example.COM ").unwrap(), "User@example.com");
    assert_eq!(email_key("User@example.com"), "user@example.com");
    for bad in [
        "",
        "user",
        "@example.com",
        "user@",
        "user@localhost",
        "user@@example.com",
        "us er@example.com",
        "user@exa mple.com",
        "user@-example.com",
        "user@example..com",
        ".user@example.com",
        "a..b@example.com",
        "user@example.com\n",
        "<script>@example.com",
    ] {
        assert!(email(bad).is_err(), "{bad:?} accepted");
    }
    let local = "a".repeat(64);
    assert!(email(&format!("{local}@example.com")).is_ok());
    assert!(email(&format!("{local}a@example.com")).is_err());
    let long_domain = format!("{}.com", vec!["a".repeat(63); 4].join("."));
    assert!(email(&format!("u@{long_domain}")).is_err(), "past 254 characters");
}

#[test]
fn names_are_trimmed_and_bounded() {
    assert_eq!(name("name", "  Acme  ").unwrap(), "Acme");
    assert!(name("name", "   ").is_err());
    assert!(name("name", "a\u{0}b").is_err());
    assert!(name("name", &"é".repeat(128)).is_ok(), "characters, not bytes");
    assert!(name("name", &"é".repeat(129)).is_err());
    assert_eq!(optional_name("name", "").unwrap(), "");
}

#[test]
fn pages_are_bounded() {
    assert_eq!(page(None, 0).unwrap(), (50, 0));
    assert_eq!(page(Some(100), 7).unwrap(), (100, 7));
    assert!(page(Some(0), 0).is_err());
    assert!(page(Some(101), 0).is_err());
    assert!(page(Some(1), MAX_OFFSET + 1).is_err());
    assert!(page(Some(1), u64::MAX).is_err());
}

#[test]
fn lists_refuse_bad_members_naming_their_index() {
    let error = redirect_uris(&["https://a.example/cb".into(), "javascript:alert(1)".into()]).unwrap_err();
    assert!(format!("{error:?}").contains("redirect_uris[1]"), "{error:?}");
    assert!(redirect_uris(&["https://a.example/cb".into(), "https://a.example/cb".into()]).is_err());
    assert!(
        redirect_uris(&["http://evil.example/cb".into()]).is_err(),
        "http only on loopback"
    );
    assert!(redirect_uris(&["http://127.0.0.1:9/cb".into()]).is_ok());
    assert!(providers(&["Google".into()]).is_err());
    assert_eq!(providers(&["google".into(), "google".into()]).unwrap(), vec!["google"]);
    assert!(scopes("scopes", &["a b".into()]).is_err());
    assert!(scopes("scopes", &vec!["s".to_owned(); 101]).is_err());
    assert!(plan_id("pro:monthly").is_ok());
    assert!(plan_id("pro monthly").is_err());
    assert!(plan_id(&"p".repeat(129)).is_err());
}
