//! The console's static files, embedded in the binary and served under a path naming their content
//! (`/console/assets/<hash>/<name>`), so a browser may keep them for a year and a new build is
//! fetched at once. No JavaScript build step: htmx is vendored as its published file.

use std::sync::LazyLock;

use axum::{
    extract::Path,
    response::{IntoResponse, Response},
};
use http::{HeaderValue, StatusCode, header};
use sha2::{Digest, Sha256};

/// One embedded file.
pub(crate) struct Asset {
    pub(crate) name: &'static str,
    content_type: &'static str,
    bytes: &'static [u8],
    /// The first 16 hex digits of the content's SHA-256.
    hash: String,
}

impl Asset {
    /// Where a page links it.
    pub(crate) fn href(&self) -> String {
        format!("/console/assets/{}/{}", self.hash, self.name)
    }
}

fn asset(name: &'static str, content_type: &'static str, bytes: &'static [u8]) -> Asset {
    let hash = hex::encode(&Sha256::digest(bytes)[..8]);
    Asset {
        name,
        content_type,
        bytes,
        hash,
    }
}

static ASSETS: LazyLock<[Asset; 3]> = LazyLock::new(|| {
    [
        asset(
            "console.css",
            "text/css; charset=utf-8",
            include_bytes!("../assets/console.css"),
        ),
        asset(
            "console.js",
            "text/javascript; charset=utf-8",
            include_bytes!("../assets/console.js"),
        ),
        // htmx.org 4.0.1 from npm (dist/htmx.min.js), Zero-Clause BSD (assets/htmx.LICENSE).
        asset(
            "htmx.min.js",
            "text/javascript; charset=utf-8",
            include_bytes!("../assets/htmx.min.js"),
        ),
    ]
});

pub(crate) fn stylesheet() -> &'static Asset {
    &ASSETS[0]
}

pub(crate) fn script() -> &'static Asset {
    &ASSETS[1]
}

pub(crate) fn htmx() -> &'static Asset {
    &ASSETS[2]
}

/// `GET /console/assets/{hash}/{name}`: the file when the hash is its current one, 404 otherwise
/// (an old page asking for an old build's file gets nothing stale).
pub(crate) async fn serve(Path((hash, name)): Path<(String, String)>) -> Response {
    let Some(asset) = ASSETS.iter().find(|asset| asset.name == name && asset.hash == hash) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let mut response = asset.bytes.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(asset.content_type));
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=31536000, immutable"),
    );
    response
}
