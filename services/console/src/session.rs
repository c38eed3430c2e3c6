//! Who is signed in, and whether a form really came from the console's own page.
//!
//! - The session cookie (`lk_console`) holds the session's secret; agent-token keeps only its
//!   hash, checks the idle and absolute expiry on every request, and ends it at sign-out, so a
//!   second gateway honours and forgets it alike. HttpOnly, SameSite=Strict, Path=/console, and
//!   Secure when the deployment is reached over https.
//! - Every form carries a CSRF token derived from the session's secret (a keyed hash: a page of
//!   another origin can neither read the cookie nor compute the token), compared in constant time.
//!   The sign-in form, before there is a session, uses a double-submit cookie instead.
//! - A POST whose `Origin` (or `Sec-Fetch-Site`) says it came from another site is refused before
//!   anything else is looked at.

use axum::{
    extract::{FromRequest, FromRequestParts, Request},
    response::{IntoResponse, Response},
};
use base64::Engine;
use http::{HeaderMap, HeaderValue, StatusCode, header, request::Parts};
use rand::RngExt;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

pub(crate) use crate::signed_in::{CSRF_FIELD, SignedIn};
use crate::{Console, SIGN_IN_PATH, backend::SessionError, layout};

/// The session cookie.
pub(crate) const SESSION_COOKIE: &str = "lk_console";
/// The sign-in form's double-submit cookie.
pub(crate) const SIGN_IN_COOKIE: &str = "lk_console_signin";
/// The most a console form may carry (a policy's rules are the largest).
const MAX_FORM_BYTES: usize = 256 * 1024;

/// The value of cookie `name` in the request's `Cookie` headers.
pub(crate) fn cookie<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value.trim())
        .filter(|value| !value.is_empty())
}

/// A `Set-Cookie` value for the console's path; `None` clears the cookie.
pub(crate) fn set_cookie(name: &str, value: Option<&str>, secure: bool) -> HeaderValue {
    let secure = if secure { "; Secure" } else { "" };
    let text = match value {
        Some(value) => format!("{name}={value}; Path=/console; HttpOnly; SameSite=Strict{secure}"),
        None => format!("{name}=; Path=/console; HttpOnly; SameSite=Strict; Max-Age=0{secure}"),
    };
    HeaderValue::from_str(&text).unwrap_or_else(|_| HeaderValue::from_static("invalid=; Max-Age=0"))
}

/// A fresh random value for the sign-in cookie.
pub(crate) fn new_sign_in_nonce() -> String {
    let bytes: [u8; 24] = rand::rng().random();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// The CSRF token of the session whose secret is `session_token`.
fn csrf_of(session_token: &str) -> String {
    let digest = Sha256::new()
        .chain_update(b"latchkey console csrf\0")
        .chain_update(session_token.as_bytes())
        .finalize();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(digest)
}

fn same(a: &str, b: &str) -> bool {
    a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

/// Whether a state-changing request says it came from somewhere else. Its `Origin` must be the
/// deployment's public origin (`server.public_url`: what people reach through a proxy that may
/// rewrite `Host`) or name the host the request was sent to.
fn cross_site(headers: &HeaderMap, public_origin: &str) -> bool {
    if headers
        .get("sec-fetch-site")
        .and_then(|value| value.to_str().ok())
        .is_some_and(|site| site == "cross-site" || site == "same-site")
    {
        return true;
    }
    let Some(origin) = headers.get(header::ORIGIN).and_then(|value| value.to_str().ok()) else {
        return false;
    };
    if !public_origin.is_empty() && origin == public_origin {
        return false;
    }
    let host = headers.get(header::HOST).and_then(|value| value.to_str().ok());
    let origin_host = origin.split_once("://").map(|(_, rest)| rest);
    origin == "null" || host.is_none() || origin_host != host
}

/// `public_url`'s origin (scheme, host and port, no path).
pub(crate) fn origin_of(public_url: &str) -> String {
    match public_url.split_once("://") {
        Some((scheme, rest)) => {
            let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
            format!("{scheme}://{authority}")
        }
        None => String::new(),
    }
}

/// Where a request without a live session goes: the sign-in page (htmx requests are told to go
/// there rather than given the page to swap in).
fn to_sign_in(headers: &HeaderMap, secure: bool) -> Response {
    let mut response = if headers.contains_key("hx-request") {
        let mut response = StatusCode::NO_CONTENT.into_response();
        response
            .headers_mut()
            .insert("hx-redirect", HeaderValue::from_static(SIGN_IN_PATH));
        response
    } else {
        layout::see_other(SIGN_IN_PATH)
    };
    if cookie(headers, SESSION_COOKIE).is_some() {
        response
            .headers_mut()
            .append(header::SET_COOKIE, set_cookie(SESSION_COOKIE, None, secure));
    }
    response
}

impl FromRequestParts<Console> for SignedIn {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, console: &Console) -> Result<Self, Response> {
        let secure = console.settings.secure_cookies;
        let Some(token) = cookie(&parts.headers, SESSION_COOKIE) else {
            return Err(to_sign_in(&parts.headers, secure));
        };
        match console.backend.resolve(token).await {
            Ok(session) => Ok(Self::new(session, token.to_owned(), csrf_of(token))),
            Err(SessionError::Refused) => Err(to_sign_in(&parts.headers, secure)),
            Err(SessionError::RateLimited) => Err(layout::failure(
                StatusCode::TOO_MANY_REQUESTS,
                "Too many requests",
                "This sign-in has made more requests than its rate limit allows. Wait a moment and reload.",
            )),
            Err(SessionError::Unavailable(message)) => Err(layout::failure(
                StatusCode::SERVICE_UNAVAILABLE,
                "Latchkey is unavailable",
                &message,
            )),
        }
    }
}

/// A posted form's fields, in order (a field may repeat).
#[derive(Debug, Default)]
pub(crate) struct Fields(Vec<(String, String)>);

impl Fields {
    pub(crate) fn parse(body: &[u8]) -> Self {
        Self(form_urlencoded::parse(body).into_owned().collect())
    }

    pub(crate) fn from_pairs(pairs: Vec<(String, String)>) -> Self {
        Self(pairs)
    }

    /// The field's first value, trimmed; empty when absent.
    pub(crate) fn get(&self, name: &str) -> &str {
        self.0
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.trim())
            .unwrap_or_default()
    }

    /// Every field, in order.
    pub(crate) fn pairs(&self) -> &[(String, String)] {
        &self.0
    }

    /// Whether a checkbox named `name` was ticked.
    pub(crate) fn ticked(&self, name: &str) -> bool {
        self.0.iter().any(|(key, _)| key == name)
    }
}

async fn read_form(request: Request, console: &Console) -> Result<(Parts, Fields), Response> {
    if cross_site(request.headers(), &console.settings.public_origin) {
        return Err(refused_form());
    }
    let (parts, body) = request.into_parts();
    let bytes = axum::body::to_bytes(body, MAX_FORM_BYTES).await.map_err(|_| {
        layout::failure(
            StatusCode::PAYLOAD_TOO_LARGE,
            "The form is too large",
            "The form carried more than the console accepts (256 KiB).",
        )
    })?;
    Ok((parts, Fields::parse(&bytes)))
}

fn refused_form() -> Response {
    layout::failure(
        StatusCode::FORBIDDEN,
        "The form was refused",
        "It did not carry this page's security token (or came from another site). Reload the page and try again.",
    )
}

/// A form posted by a signed-in person, its CSRF token checked.
pub(crate) struct Posted {
    pub(crate) signed_in: SignedIn,
    pub(crate) fields: Fields,
}

impl FromRequest<Console> for Posted {
    type Rejection = Response;

    async fn from_request(request: Request, console: &Console) -> Result<Self, Response> {
        let (mut parts, fields) = read_form(request, console).await?;
        let signed_in = SignedIn::from_request_parts(&mut parts, console).await?;
        if !same(fields.get(CSRF_FIELD), &signed_in.csrf) {
            tracing::info!(session = %signed_in.session.session_id, "a console form without its CSRF token was refused");
            return Err(refused_form());
        }
        Ok(Self { signed_in, fields })
    }
}

/// The sign-in form, its double-submit token checked.
pub(crate) struct SignInPosted {
    pub(crate) fields: Fields,
}

impl FromRequest<Console> for SignInPosted {
    type Rejection = Response;

    async fn from_request(request: Request, console: &Console) -> Result<Self, Response> {
        let (parts, fields) = read_form(request, console).await?;
        let expected = cookie(&parts.headers, SIGN_IN_COOKIE).unwrap_or_default();
        if expected.is_empty() || !same(fields.get(CSRF_FIELD), expected) {
            return Err(refused_form());
        }
        Ok(Self { fields })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for (name, value) in pairs {
            headers.append(*name, HeaderValue::from_static(value));
        }
        headers
    }

    #[test]
    fn cookies_are_found_by_exact_name() {
        let headers = headers(&[
            ("cookie", "lk_console_signin=abc; lk_console=xyz"),
            ("cookie", "other=1"),
        ]);
        assert_eq!(cookie(&headers, SESSION_COOKIE), Some("xyz"));
        assert_eq!(cookie(&headers, SIGN_IN_COOKIE), Some("abc"));
        assert_eq!(cookie(&headers, "lk"), None);
    }

    #[test]
    fn the_csrf_token_depends_on_the_session_and_is_not_the_session() {
        assert_ne!(csrf_of("lk_cs_a"), csrf_of("lk_cs_b"));
        assert!(!csrf_of("lk_cs_a").contains("lk_cs_a"));
        assert_eq!(csrf_of("lk_cs_a"), csrf_of("lk_cs_a"));
    }

    #[test]
    fn a_post_from_another_origin_is_cross_site() {
        let cross =
            |pairs: &[(&'static str, &'static str)]| cross_site(&headers(pairs), "https://latchkey.example.com");
        assert!(cross(&[("host", "127.0.0.1:8080"), ("origin", "http://evil.test")]));
        assert!(cross(&[("host", "127.0.0.1:8080"), ("origin", "null")]));
        assert!(cross(&[("sec-fetch-site", "cross-site")]));
        assert!(!cross(&[
            ("host", "127.0.0.1:8080"),
            ("origin", "http://127.0.0.1:8080")
        ]));
        assert!(!cross(&[("host", "127.0.0.1:8080"), ("sec-fetch-site", "same-origin")]));
        // Behind a proxy that rewrites Host: the public origin is ours.
        assert!(!cross(&[
            ("host", "gateway:8080"),
            ("origin", "https://latchkey.example.com")
        ]));
        assert!(cross(&[
            ("host", "gateway:8080"),
            ("origin", "https://latchkey.example.com.evil.test")
        ]));
        // No Origin at all (an old client): the CSRF token alone decides.
        assert!(!cross(&[("host", "127.0.0.1:8080")]));
    }

    #[test]
    fn the_public_origin_is_the_urls_scheme_and_authority() {
        assert_eq!(
            origin_of("https://latchkey.example.com/base/"),
            "https://latchkey.example.com"
        );
        assert_eq!(origin_of("http://127.0.0.1:8080"), "http://127.0.0.1:8080");
        assert_eq!(origin_of(""), "");
    }

    #[test]
    fn session_cookies_are_http_only_strict_and_secure_behind_https() {
        let cookie = set_cookie(SESSION_COOKIE, Some("v"), true);
        let text = cookie.to_str().unwrap();
        assert!(text.contains("HttpOnly") && text.contains("SameSite=Strict") && text.ends_with("; Secure"));
        assert!(
            !set_cookie(SESSION_COOKIE, Some("v"), false)
                .to_str()
                .unwrap()
                .contains("Secure")
        );
        assert!(
            set_cookie(SESSION_COOKIE, None, false)
                .to_str()
                .unwrap()
                .contains("Max-Age=0")
        );
    }
}
