use super::*;

#[test]
fn a_name_is_lowercased_and_loses_one_trailing_dot() {
    assert_eq!(normalize("Example.COM").as_deref(), Ok("example.com"));
    assert_eq!(normalize("api.example.com.").as_deref(), Ok("api.example.com"));
    assert_eq!(
        normalize("xn--bcher-kva.example").as_deref(),
        Ok("xn--bcher-kva.example")
    );
    assert_eq!(normalize("a-b.c0").as_deref(), Ok("a-b.c0"));
    assert_eq!(normalize("example.xn--p1ai").as_deref(), Ok("example.xn--p1ai"));
    assert_eq!(normalize("1.example").as_deref(), Ok("1.example"));
}

#[test]
fn labels_and_names_at_their_limits() {
    let label63 = "a".repeat(63);
    assert!(normalize(&format!("{label63}.com")).is_ok());
    assert_eq!(
        normalize(&format!("{}.com", "a".repeat(64))),
        Err("labels must be 1 to 63 characters")
    );
    // 63 + 1 + 63 + 1 + 63 + 1 + 61 = 253 characters: the longest name.
    let longest = format!("{label63}.{label63}.{label63}.{}", "b".repeat(61));
    assert_eq!(longest.len(), 253);
    assert!(normalize(&longest).is_ok());
    assert!(
        normalize(&format!("{longest}.")).is_ok(),
        "the trailing dot is not counted"
    );
    let too_long = format!("{label63}.{label63}.{label63}.{}", "b".repeat(62));
    assert_eq!(normalize(&too_long), Err("must be at most 253 characters"));
}

#[test]
fn every_bad_form_is_refused_with_its_reason() {
    for (input, reason) in [
        ("", "is required"),
        (
            "bücher.example",
            "must be ASCII: send an internationalized name in its xn-- (punycode) form",
        ),
        ("*.example.com", "must be a domain name, not a wildcard"),
        ("*", "must be a domain name, not a wildcard"),
        (
            "1.2.3.4",
            "must end in a top-level domain starting with a letter (an IP address is not a domain)",
        ),
        (
            "127.1",
            "must end in a top-level domain starting with a letter (an IP address is not a domain)",
        ),
        (
            "0x7f.0.0.1",
            "must end in a top-level domain starting with a letter (an IP address is not a domain)",
        ),
        (
            "example.1a",
            "must end in a top-level domain starting with a letter (an IP address is not a domain)",
        ),
        ("::1", "must be a domain name, not an IP address"),
        ("[2001:db8::1]", "must be a domain name, not an IP address"),
        ("example", "must have at least two labels, e.g. example.com"),
        ("com.", "must have at least two labels, e.g. example.com"),
        (".", "must not have an empty label (a leading dot, `..`, or a lone dot)"),
        (
            ".example.com",
            "must not have an empty label (a leading dot, `..`, or a lone dot)",
        ),
        (
            "example..com",
            "must not have an empty label (a leading dot, `..`, or a lone dot)",
        ),
        (
            "example.com..",
            "must not have an empty label (a leading dot, `..`, or a lone dot)",
        ),
        ("-example.com", "labels must not start or end with a hyphen"),
        ("example-.com", "labels must not start or end with a hyphen"),
        ("example.-com", "labels must not start or end with a hyphen"),
        ("exa_mple.com", "may hold only letters, digits, hyphens and dots"),
        ("exa mple.com", "may hold only letters, digits, hyphens and dots"),
        (" example.com", "may hold only letters, digits, hyphens and dots"),
        ("example.com/x", "may hold only letters, digits, hyphens and dots"),
        ("user@example.com", "may hold only letters, digits, hyphens and dots"),
        ("example.com\n", "may hold only letters, digits, hyphens and dots"),
        ("localhost", "must have at least two labels, e.g. example.com"),
        ("localhost.", "must have at least two labels, e.g. example.com"),
        ("LOCALHOST", "must have at least two labels, e.g. example.com"),
        ("app.localhost", "must not be localhost (RFC 6761)"),
        ("a.b.localhost.", "must not be localhost (RFC 6761)"),
    ] {
        assert_eq!(normalize(input), Err(reason), "{input:?}");
    }
}

#[test]
fn a_domain_covers_itself_and_the_names_under_it_only() {
    assert!(covers("example.com", "example.com"));
    assert!(covers("example.com", "API.Example.com."));
    assert!(covers("example.com", "a.b.example.com"));
    assert!(!covers("example.com", "badexample.com"));
    assert!(!covers("example.com", "example.com.evil.net"));
    assert!(!covers("example.com", "com"));
    assert!(!covers("api.example.com", "example.com"));
    assert!(!covers("example.com", ""));
}

#[test]
fn an_owner_names_a_domain_by_email_address_or_by_name() {
    assert_eq!(owner_domain("alice@Example.com").as_deref(), Some("example.com"));
    assert_eq!(
        owner_domain("team+bots@mail.example.com").as_deref(),
        Some("mail.example.com")
    );
    assert_eq!(owner_domain(" example.com ").as_deref(), Some("example.com"));
    assert_eq!(owner_domain("engineering"), None);
    assert_eq!(owner_domain("alice@"), None);
    assert_eq!(owner_domain("alice@localhost"), None);
    assert_eq!(owner_domain("data team"), None);
}
