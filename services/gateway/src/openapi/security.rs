//! How callers authenticate, in the document: the two ways to send an account API key, and the
//! requirement of one on every operation except the public ones listed here.

use utoipa::{
    Modify,
    openapi::{
        OpenApi,
        security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme},
    },
};

/// The operations callable without an account API key, as (method, path). The agent-token routes
/// check the token they are given; the JWKS documents, the provider list and the OAuth callback
/// (reached by the end user's browser) are public; probes and metrics are for the platform.
pub(crate) const PUBLIC: &[(&str, &str)] = &[
    ("get", "/.well-known/jwks.json"),
    ("post", "/v1/tokens/verify"),
    ("post", "/v1/tokens/verify/batch"),
    ("post", "/v1/tokens/delegate"),
    ("get", "/v1/audit/checkpoints/jwks.json"),
    ("get", "/certificates/public/{kid}"),
    ("get", "/certificates/jwks.json"),
    ("get", "/docs/providers"),
    ("get", "/oauth/callback"),
    ("get", "/healthz"),
    ("get", "/readyz"),
    ("get", "/metrics"),
];

/// The operations callable with an account API key or without any: `GET /auth/{provider}` opened
/// by a browser through a connect link (`?link=`), whose token names the account.
pub(crate) const KEY_OR_LINK: &[(&str, &str)] = &[("get", "/auth/{provider}")];

/// Registers the two ways to send an API key.
pub(crate) struct SecuritySchemes;

impl Modify for SecuritySchemes {
    fn modify(&self, openapi: &mut OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "An account API key (`Authorization: Bearer lk_live_…`), or a JWT signed with one of the \
                         account's certificates (`Authorization: Bearer eyJ…`)",
                    ))
                    .build(),
            ),
        );
        components.add_security_scheme(
            "api_key",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "X-Api-Key",
                "An account API key: `X-Api-Key: lk_live_…`",
            ))),
        );
    }
}

/// Requires an account API key, sent either way, on every operation not in [`PUBLIC`]. Applied to
/// the finished document, once the routes have added their operations.
pub(crate) struct RequireApiKey;

impl Modify for RequireApiKey {
    fn modify(&self, openapi: &mut OpenApi) {
        for (path, item) in &mut openapi.paths.paths {
            let operations = [
                ("get", &mut item.get),
                ("put", &mut item.put),
                ("post", &mut item.post),
                ("delete", &mut item.delete),
                ("options", &mut item.options),
                ("head", &mut item.head),
                ("patch", &mut item.patch),
                ("trace", &mut item.trace),
            ];
            for (method, operation) in operations {
                let Some(operation) = operation else {
                    continue;
                };
                if KEY_OR_LINK.contains(&(method, path.as_str())) {
                    operation.security = Some(api_key_or_none());
                } else if !PUBLIC.contains(&(method, path.as_str())) {
                    operation.security = Some(api_key_requirement());
                }
            }
        }
    }
}

/// An account API key, as a bearer token or in `X-Api-Key` (either one), with no scopes.
fn api_key_requirement() -> Vec<SecurityRequirement> {
    let no_scopes: [&str; 0] = [];
    vec![
        SecurityRequirement::new("bearer", no_scopes),
        SecurityRequirement::new("api_key", no_scopes),
    ]
}

/// An account API key either way, or nothing at all (the empty requirement).
fn api_key_or_none() -> Vec<SecurityRequirement> {
    let mut requirements = api_key_requirement();
    requirements.push(SecurityRequirement::default());
    requirements
}

#[cfg(test)]
mod tests;
