use super::*;
use crate::WebhookConfig;

fn strict() -> AddressPolicy {
    WebhookConfig::default().address_policy()
}

#[test]
fn urls_must_be_absolute_http_without_credentials() {
    assert!(validated_url("https://hooks.example.com/in", strict()).is_ok());
    for bad in [
        "",
        "hooks.example.com",
        "ftp://hooks.example.com/",
        "https://user:pw@hooks.example.com/",
        "http://127.0.0.1:8080/",
        "http://[::1]/",
        "http://169.254.169.254/latest/meta-data",
        "http://10.0.0.8/",
    ] {
        assert!(validated_url(bad, strict()).is_err(), "{bad}");
    }
}
