use super::*;

#[test]
fn without_a_list_https_and_loopback_http_are_accepted() {
    for uri in [
        "https://yourapp.com/callback",
        "https://your-app.com/oauth/callback?tab=2",
        "HTTPS://App.Example:8443/cb",
        "http://127.0.0.1:8765/callback",
        "http://127.0.0.2/cb",
        "http://[::1]:9000/cb",
        "http://localhost/cb",
        "http://LOCALHOST:3000",
    ] {
        assert_eq!(unlisted_uri_fault(uri), None, "{uri}");
    }
}

#[test]
fn without_a_list_everything_else_is_refused() {
    let long = format!("https://app.example/{}", "a".repeat(MAX_URI_LEN));
    for uri in [
        "javascript:alert(1)",
        "data:text/html,hi",
        "http://yourapp.com/callback",
        "http://10.0.0.1/cb",
        "http://localhost.evil.example/cb",
        "https://app.example/cb#fragment",
        "https://app.example/cb#",
        "https://user:pass@app.example/cb",
        "https://user@app.example/cb",
        "https:app.example/cb",
        "//app.example/cb",
        "/callback",
        "ftp://app.example/cb",
        "https://app.example/c b",
        " https://app.example/cb",
        "https://app.example/cb\n",
        "https://app.exa\tmple/cb",
        long.as_str(),
        "",
    ] {
        assert!(unlisted_uri_fault(uri).is_some(), "{uri:?} accepted");
    }
}
