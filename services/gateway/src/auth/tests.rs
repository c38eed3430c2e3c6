use http::HeaderValue;

use super::*;

fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
    pairs
        .iter()
        .map(|(name, value)| (http::HeaderName::from_static(name), HeaderValue::from_static(value)))
        .collect()
}

#[test]
fn both_header_styles_are_read() {
    assert_eq!(
        presented_secret(&headers(&[("authorization", "Bearer lk_live_abc")])).ok(),
        Some("lk_live_abc")
    );
    assert_eq!(
        presented_secret(&headers(&[("authorization", "bearer lk_live_abc")])).ok(),
        Some("lk_live_abc")
    );
    assert_eq!(
        presented_secret(&headers(&[("x-api-key", "lk_live_abc")])).ok(),
        Some("lk_live_abc")
    );
}

#[test]
fn missing_and_malformed_credentials_are_refused() {
    for bad in [
        headers(&[]),
        headers(&[("authorization", "Basic dXNlcjpwYXNz")]),
        headers(&[("authorization", "Bearer")]),
        headers(&[("authorization", "Bearer ")]),
        headers(&[("authorization", "Bearer two words")]),
        headers(&[("x-api-key", "")]),
    ] {
        let refused = presented_secret(&bad).err().map(|p| p.0.code);
        assert_eq!(refused, Some(ErrorCode::Unauthorized), "{bad:?}");
    }
}
