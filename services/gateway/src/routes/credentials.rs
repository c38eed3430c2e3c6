//! `/credentials`: the account's provider API keys, kept in the vault (as `credential/<provider>`).
//! Exactly AGNT Connect's shapes: `PUT` takes `{"openaiApiKey": "sk-…", …}` and answers the masked
//! summary of what it wrote with `updatedAt`; `GET` answers `hasXApiKey` and `xApiKeyLast4` for every
//! provider, never a key. A write naming an unknown provider, a non-string or an empty value writes
//! nothing and names the field. `writeOnly: true` (Latchkey's addition) marks the keys written with
//! it write-only: no endpoint returns them again, not even `POST /tokens/fetch`.

use std::sync::LazyLock;

use axum::{Json, extract::State};
use chrono::{DateTime, Utc};
use latchkey_errors::{ApiError, FieldError};
use latchkey_oauth::{Catalogue, ProviderKind};
use latchkey_proto::vault::v1 as pb;
use serde_json::{Map, Value};
use utoipa::{
    PartialSchema, ToSchema,
    openapi::{
        RefOr,
        schema::{AllOfBuilder, AnyOfBuilder, ObjectBuilder, Schema, Type},
    },
};
use zeroize::Zeroizing;

use super::constraints;
use crate::{json::ValidJson, openapi::responses as r, principal::Principal, problem::Problem, state::AppState};

/// Providers whose API key an account can store: every `api_key` provider of `catalogue`, and
/// Google, whose (Gemini) API key AGNT documents beside OpenAI's and Anthropic's although Google is
/// an OAuth provider here.
fn providers_of(catalogue: &Catalogue) -> Vec<&str> {
    let mut codes: Vec<&str> = catalogue
        .all()
        .filter(|provider| provider.kind == ProviderKind::ApiKey)
        .map(|provider| provider.code.as_str())
        .collect();
    if catalogue.get("google").is_some() {
        codes.push("google");
    }
    codes.sort_unstable();
    codes
}

/// [`providers_of`] the built-in catalogue, for the document's schemas.
fn providers() -> &'static [&'static str] {
    static PROVIDERS: LazyLock<Vec<&'static str>> = LazyLock::new(|| providers_of(constraints::catalogue()));
    &PROVIDERS
}

/// The vault namespace of provider credentials.
const NAMESPACE: &str = "credential/";

/// The longest key accepted, in bytes.
const MAX_KEY_BYTES: usize = 8 * 1024;

/// `openai` → `Openai`, for `hasOpenaiApiKey`.
fn capitalised(code: &str) -> String {
    let mut chars = code.chars();
    chars
        .next()
        .map(|first| first.to_ascii_uppercase().to_string() + chars.as_str())
        .unwrap_or_default()
}

fn key_field(code: &str) -> String {
    format!("{code}ApiKey")
}

fn has_field(code: &str) -> String {
    format!("has{}ApiKey", capitalised(code))
}

fn last4_field(code: &str) -> String {
    format!("{code}ApiKeyLast4")
}

/// The masked summary: `hasXApiKey` and `xApiKeyLast4` per provider (and `updatedAt` after a write).
pub(crate) struct CredentialSummary(Map<String, Value>);

impl serde::Serialize for CredentialSummary {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(serializer)
    }
}

impl PartialSchema for CredentialSummary {
    fn schema() -> RefOr<Schema> {
        summary_schema(providers())
    }
}

/// The masked summary's schema, for the providers whose keys an account can store.
fn summary_schema(providers: &[&str]) -> RefOr<Schema> {
    let mut object = ObjectBuilder::new().description(Some(
        "Masked summary of the account's provider keys: whether each is stored and its last four \
         characters (null when absent or too short to show). Never a key.",
    ));
    for code in providers {
        object = object
            .property(has_field(code), ObjectBuilder::new().schema_type(Type::Boolean))
            .property(
                last4_field(code),
                ObjectBuilder::new().schema_type(utoipa::openapi::schema::SchemaType::Array(vec![
                    Type::String,
                    Type::Null,
                ])),
            );
    }
    object = object.property(
        "updatedAt",
        ObjectBuilder::new()
            .schema_type(Type::String)
            .format(Some(utoipa::openapi::SchemaFormat::KnownFormat(
                utoipa::openapi::KnownFormat::DateTime,
            )))
            .description(Some("After PUT only: when the keys were written")),
    );
    RefOr::T(Schema::Object(object.build()))
}

impl ToSchema for CredentialSummary {}

/// The PUT body: one `xApiKey` string per provider to write, and `writeOnly`.
pub(crate) struct CredentialUpdate;

impl PartialSchema for CredentialUpdate {
    fn schema() -> RefOr<Schema> {
        update_schema(providers())
    }
}

/// The PUT body's schema, for the providers whose keys an account can store.
fn update_schema(providers: &[&str]) -> RefOr<Schema> {
    let mut object = ObjectBuilder::new()
        .description(Some(
            "The provider keys to write, at least one; send only those to change. Unknown fields are \
             refused. A key is trimmed, and must then be 1 byte to 8 KiB without control characters.",
        ))
        .additional_properties(Some(utoipa::openapi::schema::AdditionalProperties::FreeForm(false)));
    // At least one key: `{"writeOnly": true}` alone writes nothing and is refused.
    let mut one_key = AnyOfBuilder::new();
    for code in providers {
        let key = ObjectBuilder::new()
            .schema_type(Type::String)
            .min_length(Some(1))
            .max_length(Some(MAX_KEY_BYTES))
            .pattern(Some(constraints::pattern::LINE));
        object = object.property(key_field(code), key);
        one_key = one_key.item(ObjectBuilder::new().required(key_field(code)));
    }
    object = object.property(
        "writeOnly",
        ObjectBuilder::new().schema_type(Type::Boolean).description(Some(
            "Mark the keys written in this request write-only: no endpoint ever returns them (default false; \
             once write-only, always write-only)",
        )),
    );
    let both = AllOfBuilder::new().item(object).item(one_key);
    RefOr::T(Schema::AllOf(both.build()))
}

impl ToSchema for CredentialUpdate {}

/// Restates both schemas for the deployment's catalogue (`oauth.catalogue_file` adds providers),
/// so the served document names every key `/credentials` takes.
pub(crate) fn describe_providers(document: &mut utoipa::openapi::OpenApi, catalogue: &Catalogue) {
    let providers = providers_of(catalogue);
    let components = document.components.get_or_insert_with(Default::default);
    components
        .schemas
        .insert("CredentialUpdate".to_owned(), update_schema(&providers));
    components
        .schemas
        .insert("CredentialSummary".to_owned(), summary_schema(&providers));
}

/// One provider key to write; the key is wiped when dropped.
struct KeyWrite {
    code: String,
    key: Zeroizing<Vec<u8>>,
}

/// Reads the PUT body, naming every field at fault; nothing is written unless all of it is right.
fn parse_update(catalogue: &Catalogue, body: Map<String, Value>) -> Result<(Vec<KeyWrite>, bool), Problem> {
    let providers = providers_of(catalogue);
    let mut errors = Vec::new();
    let mut writes = Vec::new();
    let mut write_only = false;
    for (field, value) in body {
        if field == "writeOnly" {
            match value {
                Value::Bool(flag) => write_only = flag,
                _ => errors.push(FieldError::new(field, "must be a boolean")),
            }
            continue;
        }
        let Some(code) = providers.iter().copied().find(|code| key_field(code) == field) else {
            errors.push(FieldError::new(
                field,
                "unknown field: provider keys are named like openaiApiKey (see GET /docs/providers)",
            ));
            continue;
        };
        match value {
            Value::String(key) => {
                let key = Zeroizing::new(key);
                let trimmed = key.trim();
                if trimmed.is_empty() {
                    errors.push(FieldError::new(field, "must not be empty"));
                } else if trimmed.len() > MAX_KEY_BYTES {
                    errors.push(FieldError::new(field, format!("must be at most {MAX_KEY_BYTES} bytes")));
                } else if trimmed.chars().any(char::is_control) {
                    errors.push(FieldError::new(field, "must not contain control characters"));
                } else {
                    writes.push(KeyWrite {
                        code: code.to_owned(),
                        key: Zeroizing::new(trimmed.as_bytes().to_vec()),
                    });
                }
            }
            _ => errors.push(FieldError::new(field, "must be a string")),
        }
    }
    if errors.is_empty() && writes.is_empty() {
        errors.push(FieldError::new(
            "body",
            "send at least one provider key, e.g. {\"openaiApiKey\": \"sk-…\"}",
        ));
    }
    if errors.is_empty() {
        Ok((writes, write_only))
    } else {
        Err(Problem(ApiError::validation(errors)))
    }
}

fn summarise(summary: &mut Map<String, Value>, code: &str, last4: Option<&str>) {
    summary.insert(has_field(code), Value::Bool(last4.is_some()));
    let shown = last4
        .filter(|last4| !last4.is_empty())
        .map(|last4| Value::String(last4.to_owned()));
    summary.insert(last4_field(code), shown.unwrap_or(Value::Null));
}

/// Provider credentials (masked)
///
/// A masked summary of the stored provider keys: `hasXApiKey` and `xApiKeyLast4` for every provider.
/// Never returns a key.
#[utoipa::path(
    get,
    path = "/credentials",
    tag = "credentials",
    responses(
        (status = 200, description = "The masked summary", body = CredentialSummary),
        r::Authenticated,
    )
)]
pub(crate) async fn get_credentials(
    State(state): State<AppState>,
    principal: Principal,
) -> Result<Json<CredentialSummary>, Problem> {
    let request = principal.grpc_request(pb::ListSecretsRequest {
        prefix: NAMESPACE.to_owned(),
    });
    let stored = state.vault.clone().list_secrets(request).await?.into_inner().secrets;
    let mut summary = Map::new();
    for code in providers_of(&state.catalogue) {
        let secret_id = format!("{NAMESPACE}{code}");
        let found = stored.iter().find(|secret| secret.secret_id == secret_id);
        summarise(&mut summary, code, found.map(|secret| secret.last4.as_str()));
    }
    Ok(Json(CredentialSummary(summary)))
}

/// Update provider credentials
///
/// Writes one or more provider keys (send only those to change), all or none. Answers the masked
/// summary of the keys written and `updatedAt`. 422 when concurrent writes of the same keys kept
/// colliding: retry.
#[utoipa::path(
    put,
    path = "/credentials",
    tag = "credentials",
    request_body(content = CredentialUpdate, content_type = "application/json"),
    responses(
        (status = 200, description = "The masked summary of the keys written", body = CredentialSummary),
        (status = 422, response = r::Unprocessable),
        r::Authenticated,
        r::JsonBody,
    )
)]
pub(crate) async fn put_credentials(
    State(state): State<AppState>,
    principal: Principal,
    ValidJson(body): ValidJson<Map<String, Value>>,
) -> Result<Json<CredentialSummary>, Problem> {
    let (writes, write_only) = parse_update(&state.catalogue, body)?;
    let secrets = writes
        .into_iter()
        .map(|mut write| pb::PutSecretRequest {
            secret_id: format!("{NAMESPACE}{}", write.code),
            plaintext: std::mem::take(&mut *write.key),
            write_only,
            expected_version: None,
        })
        .collect();
    let request = principal.grpc_request(pb::PutSecretsRequest { secrets });
    let written = state.vault.clone().put_secrets(request).await?.into_inner().secrets;
    let mut summary = Map::new();
    let mut updated_at = 0;
    for secret in &written {
        let code = secret.secret_id.trim_start_matches(NAMESPACE);
        summarise(&mut summary, code, Some(&secret.last4));
        updated_at = updated_at.max(secret.updated_at_unix);
    }
    let updated_at = DateTime::<Utc>::from_timestamp(updated_at, 0).unwrap_or_else(Utc::now);
    summary.insert(
        "updatedAt".to_owned(),
        Value::String(updated_at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)),
    );
    Ok(Json(CredentialSummary(summary)))
}

#[cfg(test)]
mod tests;
