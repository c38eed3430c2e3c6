use std::net::SocketAddr;

use super::ServiceSettings;

fn gateway() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 8080))
}

#[test]
fn an_unset_public_url_is_the_gateways_address_and_the_callback_follows_it() {
    let mut settings = ServiceSettings::default();
    settings.resolve_public_url(gateway()).expect("resolves");
    assert_eq!(settings.public_url, "http://127.0.0.1:8080");
    assert_eq!(settings.oauth.callback_url, "http://127.0.0.1:8080/oauth/callback");
}

#[test]
fn a_configured_public_url_wins_and_a_configured_callback_is_kept() {
    let mut settings = ServiceSettings {
        public_url: "https://latchkey.example.com".to_owned(),
        ..ServiceSettings::default()
    };
    settings.resolve_public_url(gateway()).expect("resolves");
    assert_eq!(
        settings.oauth.callback_url,
        "https://latchkey.example.com/oauth/callback"
    );

    let mut settings = ServiceSettings {
        public_url: "https://latchkey.example.com".to_owned(),
        ..ServiceSettings::default()
    };
    settings.oauth.callback_url = "https://auth.example.com/cb".to_owned();
    settings.resolve_public_url(gateway()).expect("resolves");
    assert_eq!(settings.oauth.callback_url, "https://auth.example.com/cb");
}

#[test]
fn a_public_url_that_is_not_http_is_refused() {
    for bad in [
        "latchkey.example.com",
        "ftp://example.com",
        "https://exa mple.com",
        "javascript:alert(1)",
    ] {
        let mut settings = ServiceSettings {
            public_url: bad.to_owned(),
            ..ServiceSettings::default()
        };
        assert!(settings.resolve_public_url(gateway()).is_err(), "{bad}");
    }
}
