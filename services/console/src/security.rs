//! The headers every console answer carries: a strict Content-Security-Policy (scripts, styles and
//! connections from this origin only, no inline script or style, no framing, forms posted only
//! here), `X-Frame-Options: DENY` for browsers that predate `frame-ancestors`, no MIME sniffing,
//! the referrer kept within the site, and pages never stored by a shared cache.

use axum::{extract::Request, middleware::Next, response::Response};
use http::{HeaderValue, header};

pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
     img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

pub(crate) async fn headers(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    // Not `no-referrer`: under it a browser sends `Origin: null` with every form, and the origin
    // check (session.rs) could no longer tell the console's own forms from a sandboxed page's.
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("same-origin"));
    headers.insert("cross-origin-opener-policy", HeaderValue::from_static("same-origin"));
    // Assets set their own (immutable); everything else holds an account's data.
    headers
        .entry(header::CACHE_CONTROL)
        .or_insert(HeaderValue::from_static("no-store"));
    response
}
