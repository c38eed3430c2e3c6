//! What the handlers and the services behind them accept, stated in the OpenAPI document so that a
//! client generated from it validates input the way the server does (and a fuzzer generating from
//! it reaches the handlers instead of their validation; see docs/api-testing.md).
//!
//! utoipa takes a field's `pattern` only as a string literal, so the request bodies repeat the
//! patterns below in their `#[schema(pattern = …)]` attributes; the tests here hold each pattern to
//! the Rust check it restates, and the OpenAPI test holds every pattern of the document to this list.
//! Closed sets (providers, event types) are components built here, from their catalogues.

use std::sync::LazyLock;

use latchkey_events::catalogue::EventType;
use latchkey_oauth::{Catalogue, ProviderKind};
use utoipa::{
    PartialSchema, ToSchema,
    openapi::{
        RefOr,
        schema::{ObjectBuilder, Schema, Type},
    },
};

/// The patterns of the document's text fields, as regular expressions every engine involved reads
/// alike (ECMA-262 for clients, Python for schemathesis, Rust for the tests).
#[cfg_attr(
    not(test),
    allow(dead_code, reason = "the attributes repeat these as literals; the tests read them")
)]
pub(crate) mod pattern {
    /// Text without control characters (`char::is_control`) and not blank (`str::trim`).
    pub(crate) const LINE: &str =
        r"^[^\u0000-\u001f\u007f-\u009f]*[^\s\u0000-\u001f\u007f-\u009f][^\u0000-\u001f\u007f-\u009f]*$";
    /// Text without control characters; may be empty.
    pub(crate) const NO_CONTROL: &str = r"^[^\u0000-\u001f\u007f-\u009f]*$";
    /// A word: no whitespace (`char::is_whitespace`), no control characters, not empty.
    pub(crate) const WORD: &str = r"^[^\s\u0000-\u001f\u007f-\u009f]+$";
    /// A target service as a token names it: no whitespace, control characters or `*`; empty is `any`.
    pub(crate) const SERVICE: &str = r"^[^\s*\u0000-\u001f\u007f-\u009f]*$";
    /// A target service as a dry run takes it: no whitespace or control characters; empty is `any`.
    pub(crate) const SERVICE_OR_PATTERN: &str = r"^[^\s\u0000-\u001f\u007f-\u009f]*$";
    /// Text with something other than whitespace in it.
    pub(crate) const NOT_BLANK: &str = r"\S";
    /// A token's scope: `latchkey_tokens::scope::check_scope`.
    pub(crate) const SCOPE: &str = r"^(\*|[A-Za-z0-9_:-]+(\.[A-Za-z0-9_:-]+)*(\.\*)?)$";
    /// A policy rule's scope or target pattern: `latchkey_tokens::scope::check_rule_pattern`.
    pub(crate) const RULE_PATTERN: &str =
        r"^(\*|[^\s.*\u0000-\u001f\u007f-\u009f]+)(\.(\*|[^\s.*\u0000-\u001f\u007f-\u009f]+))*$";
    /// An approval id as a token request names it (`apr_…`); empty is none.
    pub(crate) const APPROVAL_ID: &str = r"^(apr_[A-Za-z0-9_]{0,60})?$";
    /// An OAuth scope: printable ASCII without spaces, `"` or `\`.
    pub(crate) const OAUTH_SCOPE: &str = r#"^[!#-\[\]-~]+$"#;
    /// A time of day a window starts at, `00:00` to `23:59`.
    pub(crate) const WINDOW_START: &str = r"^([01][0-9]|2[0-3]):[0-5][0-9]$";
    /// A time of day a window ends at, `00:01` to `24:00`.
    pub(crate) const WINDOW_END: &str = r"^(00:(0[1-9]|[1-5][0-9])|(0[1-9]|1[0-9]|2[0-3]):[0-5][0-9]|24:00)$";
    /// `UTC`, `Z` (any case) or a fixed offset from `-14:00` to `+14:00`.
    pub(crate) const UTC_OFFSET: &str = r"^([Uu][Tt][Cc]|[Zz]|[+-](0[0-9]|1[0-3]):[0-5][0-9]|[+-]14:00)$";
    /// An http(s) URL (the scheme in any case).
    pub(crate) const HTTP_URL: &str = r"^[Hh][Tt][Tt][Pp][Ss]?://[^\s/?#@]+([/?#][^\s]*)?$";
    /// An http(s) URL without a fragment.
    pub(crate) const HTTP_URL_NO_FRAGMENT: &str = r"^[Hh][Tt][Tt][Pp][Ss]?://[^\s/?#]+([/?][^\s#]*)?$";
    /// OAuth scopes separated by commas or whitespace.
    pub(crate) const OAUTH_SCOPE_LIST: &str = r"^[!#-\[\]-~\s]*$";
    /// A domain name as `POST /v1/domains` takes it: LDH labels of 1 to 63 characters not starting or
    /// ending with a hyphen, at least two, the last starting with a letter, one trailing dot allowed.
    /// Agent-token also refuses `localhost` and names over 253 characters (the schema's `maxLength`
    /// says 254, the trailing dot included).
    pub(crate) const DOMAIN: &str =
        r"^([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.?$";
    /// A page cursor the audit log answered (a positive sequence number); empty is the first page.
    pub(crate) const SEQUENCE_CURSOR: &str = r"^(\+?0*[1-9][0-9]{0,17})?$";
    /// Telegram's api id written as digits (`latchkey_oauth::check_api_id`, with at most 10
    /// characters; the value's bound, 2147483647, no pattern can say).
    pub(crate) const TELEGRAM_API_ID: &str = r"^0*[1-9][0-9]{0,9}$";
    /// Telegram's api hash: `latchkey_oauth::check_api_hash`.
    pub(crate) const TELEGRAM_API_HASH: &str = r"^[0-9A-Fa-f]{32}$";
    /// An MTProto session string: printable ASCII without spaces (`latchkey_oauth::check_session_string`).
    pub(crate) const MTPROTO_SESSION: &str = r"^[!-~]+$";
    /// A connect link's token: `latchkey_oauth::is_connect_link_token`.
    pub(crate) const CONNECT_LINK_TOKEN: &str = r"^[A-Za-z0-9_-]{43}$";

    /// An organization's or service's slug: `latchkey_directory::is_slug`.
    pub(crate) const SLUG: &str = r"^[a-z0-9]([a-z0-9-]{0,62}[a-z0-9])?$";
    /// A subscription's plan id: `latchkey_directory::is_plan_id` (with the schema's 1 to 128
    /// characters).
    pub(crate) const PLAN_ID: &str = r"^[A-Za-z0-9_.:-]+$";
    /// `X-Latchkey-Service`: an organization's slug and a service's, `/` between.
    pub(crate) const SERVICE_REF: &str = r"^[a-z0-9]([a-z0-9-]{0,62}[a-z0-9])?/[a-z0-9]([a-z0-9-]{0,62}[a-z0-9])?$";

    /// Every pattern above: the document's patterns must be among them.
    pub(crate) const PATTERNS: &[&str] = &[
        LINE,
        NO_CONTROL,
        WORD,
        SERVICE,
        SERVICE_OR_PATTERN,
        NOT_BLANK,
        SCOPE,
        RULE_PATTERN,
        APPROVAL_ID,
        OAUTH_SCOPE,
        OAUTH_SCOPE_LIST,
        WINDOW_START,
        WINDOW_END,
        UTC_OFFSET,
        HTTP_URL,
        HTTP_URL_NO_FRAGMENT,
        SEQUENCE_CURSOR,
        DOMAIN,
        TELEGRAM_API_ID,
        TELEGRAM_API_HASH,
        MTPROTO_SESSION,
        CONNECT_LINK_TOKEN,
        SLUG,
        PLAN_ID,
        SERVICE_REF,
    ];
}

/// The provider catalogue the oauth service serves (services/oauth/providers.toml), parsed once:
/// the one list of providers the document and `/credentials` name.
pub(crate) fn catalogue() -> &'static Catalogue {
    static CATALOGUE: LazyLock<Catalogue> = LazyLock::new(Catalogue::builtin);
    &CATALOGUE
}

/// Every kind of provider.
const ANY_KIND: &[ProviderKind] = &[ProviderKind::Oauth2, ProviderKind::ApiKey, ProviderKind::Mtproto];

fn string_enum(description: &str, values: impl IntoIterator<Item = String>) -> RefOr<Schema> {
    RefOr::T(Schema::Object(
        ObjectBuilder::new()
            .schema_type(Type::String)
            .description(Some(description))
            .enum_values(Some(values))
            .build(),
    ))
}

/// A provider's code.
pub(crate) struct ProviderCode;

impl PartialSchema for ProviderCode {
    fn schema() -> RefOr<Schema> {
        ProviderCode::of(catalogue())
    }
}

impl ProviderCode {
    /// The schema for the providers of `catalogue` (the deployment's, with its catalogue file).
    pub(crate) fn of(catalogue: &Catalogue) -> RefOr<Schema> {
        string_enum(
            "A provider of the catalogue. `GET /docs/providers` lists those this deployment enables: \
             `oidc` only when `oauth.oidc_discovery_url` is set (otherwise it is refused as unknown).",
            codes_of(catalogue, ANY_KIND),
        )
    }
}

fn codes_of(catalogue: &Catalogue, kinds: &[ProviderKind]) -> Vec<String> {
    catalogue
        .all()
        .filter(|provider| kinds.contains(&provider.kind))
        .map(|provider| provider.code.clone())
        .collect()
}

impl ToSchema for ProviderCode {}

/// An OAuth provider's code.
pub(crate) struct OauthProviderCode;

impl PartialSchema for OauthProviderCode {
    fn schema() -> RefOr<Schema> {
        OauthProviderCode::of(catalogue())
    }
}

impl OauthProviderCode {
    /// The schema for the OAuth providers of `catalogue`.
    pub(crate) fn of(catalogue: &Catalogue) -> RefOr<Schema> {
        string_enum(
            "An OAuth provider of the catalogue (`type: oauth2` in `GET /docs/providers`): `oidc` only \
             when the deployment sets `oauth.oidc_discovery_url`. Starting a session also needs an OAuth \
             app: the deployment's (`oauth.clients.<code>`) or the account's own (`PUT /v1/oauth-apps/{provider}`).",
            codes_of(catalogue, &[ProviderKind::Oauth2]),
        )
    }
}

/// Puts the providers of `catalogue` (the deployment's) in `document`'s provider schemas, which
/// name the built-in catalogue's until then.
pub(crate) fn describe_providers(document: &mut utoipa::openapi::OpenApi, catalogue: &Catalogue) {
    let components = document.components.get_or_insert_with(Default::default);
    components
        .schemas
        .insert("ProviderCode".to_owned(), ProviderCode::of(catalogue));
    components
        .schemas
        .insert("OauthProviderCode".to_owned(), OauthProviderCode::of(catalogue));
}

impl ToSchema for OauthProviderCode {}

/// The categories of the event catalogue (`token` of `token.issued`), each once, in order.
fn categories() -> Vec<&'static str> {
    let mut categories: Vec<&'static str> = Vec::new();
    for event_type in EventType::ALL {
        let category = event_type.as_str().split('.').next().unwrap_or_default();
        if !categories.contains(&category) {
            categories.push(category);
        }
    }
    categories
}

/// Event types and category wildcards: `token.issued`, `token.*`.
fn types_and_categories() -> impl Iterator<Item = String> {
    let types = EventType::ALL.iter().map(|event_type| event_type.as_str().to_owned());
    types.chain(categories().into_iter().map(|category| format!("{category}.*")))
}

/// Which events a webhook endpoint receives.
pub(crate) struct EventSelector;

impl PartialSchema for EventSelector {
    fn schema() -> RefOr<Schema> {
        string_enum(
            "An event type (`token.issued`), every type of a category (`token.*`), or `*` for every event.",
            std::iter::once("*".to_owned()).chain(types_and_categories()),
        )
    }
}

impl ToSchema for EventSelector {}

/// Which audit entries to list by type.
pub(crate) struct EventTypeFilter;

impl PartialSchema for EventTypeFilter {
    fn schema() -> RefOr<Schema> {
        string_enum(
            "An event type (`api_key.created`) or every type of a category (`token.*`).",
            types_and_categories(),
        )
    }
}

impl ToSchema for EventTypeFilter {}

#[cfg(test)]
mod tests;
