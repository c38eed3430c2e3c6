//! How callers authenticate, in the document: the two ways to send an account API key, and the
//! requirement of one on every operation except the public ones listed here.

use utoipa::{
    Modify,
    openapi::{
        OpenApi, RefOr, Required, Type,
        path::{ParameterBuilder, ParameterIn},
        schema::ObjectBuilder,
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
    ("get", "/connect/provider-token/{state}"),
    ("get", "/ai/skill"),
    ("get", "/.well-known/oauth-protected-resource"),
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
                         account's certificates (`Authorization: Bearer eyJ…`); on `/ai/context/*`, also one of the \
                         account's agent tokens for Latchkey (audience `latchkey` or none)",
                    ))
                    .build(),
            ),
        );
        components.add_security_scheme(
            "service_key",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "X-Api-Key",
                "A service API key (`X-Api-Key: lk_svc_…`, or as a bearer token): the service API \
                 (`/api/service/*`) of its one service only",
            ))),
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
                if path.starts_with(SERVICE_API) {
                    operation.security = Some(service_key_or_api_key());
                } else if KEY_OR_LINK.contains(&(method, path.as_str())) {
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

/// Where the service API lives: its routes take a service key, or an account credential that
/// names the service ([`NameTheService`]).
pub(crate) const SERVICE_API: &str = "/api/service/";

/// A service key, or an account credential either way.
fn service_key_or_api_key() -> Vec<SecurityRequirement> {
    let no_scopes: [&str; 0] = [];
    let mut requirements = vec![SecurityRequirement::new("service_key", no_scopes)];
    requirements.extend(api_key_requirement());
    requirements
}

/// Documents the `X-Latchkey-Service` header on every operation of the service API: required with
/// an account credential, refused with a service key.
pub(crate) struct NameTheService;

impl Modify for NameTheService {
    fn modify(&self, openapi: &mut OpenApi) {
        let header = ParameterBuilder::new()
            .name("X-Latchkey-Service")
            .parameter_in(ParameterIn::Header)
            .required(Required::False)
            .description(Some(
                "`{org_slug}/{service_slug}`: the service an account credential acts for (required with \
                 one; refused with a service API key, which acts for its own service only)",
            ))
            .schema(Some(
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .pattern(Some(crate::routes::constraints::pattern::SERVICE_REF)),
            ))
            .build();
        for (path, item) in &mut openapi.paths.paths {
            if !path.starts_with(SERVICE_API) {
                continue;
            }
            for operation in [
                &mut item.get,
                &mut item.post,
                &mut item.patch,
                &mut item.delete,
                &mut item.put,
            ]
            .into_iter()
            .flatten()
            {
                operation
                    .parameters
                    .get_or_insert_with(Vec::new)
                    .push(RefOr::T(header.clone()));
            }
        }
    }
}

/// An account API key either way, or nothing at all (the empty requirement).
fn api_key_or_none() -> Vec<SecurityRequirement> {
    let mut requirements = api_key_requirement();
    requirements.push(SecurityRequirement::default());
    requirements
}

#[cfg(test)]
mod tests;
