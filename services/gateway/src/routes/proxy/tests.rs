use super::{redact::Redactor, upstream};

#[test]
fn a_path_stays_below_the_base_in_every_spelling() {
    let base = "https://api.example.com/v2";
    let url = upstream::target(base, "repos/a%2Fb/issues", Some("state=open")).expect("a plain path");
    assert_eq!(url.as_str(), "https://api.example.com/v2/repos/a%2Fb/issues?state=open");
    assert_eq!(
        upstream::target("https://api.example.com/", "user", None)
            .unwrap()
            .as_str(),
        "https://api.example.com/user"
    );
    for climbing in [
        "..",
        "../admin",
        "a/../../admin",
        "%2e%2e/admin",
        "%2E./admin",
        ".%2e/admin",
        "./a",
        "a/.",
        "a\\..\\admin",
        "a%5c..%5cadmin",
    ] {
        assert!(upstream::target(base, climbing, None).is_err(), "{climbing}");
    }
    // Another host never comes out of a path, whatever it holds.
    for elsewhere in ["@evil.example/x", "%40evil.example", "//evil.example/x"] {
        let url = upstream::target(base, elsewhere, None);
        assert!(
            url.as_ref().is_err() || url.as_ref().is_ok_and(|url| url.host_str() == Some("api.example.com")),
            "{elsewhere}: {url:?}"
        );
    }
}

#[test]
fn the_template_keeps_words_and_hides_what_was_looked_up() {
    assert_eq!(
        upstream::template("repos/octo-cat/issues/42"),
        "repos/octo-cat/issues/{id}"
    );
    assert_eq!(upstream::template("users/ada%40example.com"), "users/{id}");
    assert_eq!(upstream::template("files/3f2a9c/content"), "files/{id}/content");
    assert_eq!(upstream::template(""), "");
}

/// Feeds `input` to a redactor in chunks of `size` and returns the whole output.
fn redacted(needles: &[&str], input: &str, size: usize) -> String {
    let mut redactor = Redactor::new(needles.iter().map(|n| n.as_bytes().to_vec()));
    let mut out = Vec::new();
    for chunk in input.as_bytes().chunks(size) {
        out.extend_from_slice(&redactor.push(chunk));
    }
    out.extend_from_slice(&redactor.finish());
    String::from_utf8(out).unwrap()
}

#[test]
fn an_echoed_credential_is_cut_however_the_chunks_fall() {
    let input = "x-acme-key: sk-secret-123456\nauthorization: Bearer sk-secret-123456\nend";
    for size in 1..input.len() {
        assert_eq!(
            redacted(&["Bearer sk-secret-123456", "sk-secret-123456"], input, size),
            "x-acme-key: [REDACTED]\nauthorization: [REDACTED]\nend",
            "chunks of {size}"
        );
    }
    // A short needle would mangle ordinary text: it is not applied.
    assert_eq!(redacted(&["abc"], "abcabc", 2), "abcabc");
    assert_eq!(redacted(&[], "plain", 1), "plain");
}
