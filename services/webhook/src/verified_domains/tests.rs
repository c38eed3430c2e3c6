use super::*;

#[test]
fn only_named_hosts_are_asked_about() {
    assert_eq!(
        host_name("https://Hooks.Example.com/x?y").as_deref(),
        Some("hooks.example.com")
    );
    assert_eq!(host_name("http://example.com:8443/").as_deref(), Some("example.com"));
    assert_eq!(host_name("https://192.0.2.1/hook"), None);
    assert_eq!(host_name("https://[2001:db8::1]/hook"), None);
    assert_eq!(host_name("not a url"), None);
}
