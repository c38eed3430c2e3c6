//! The request and response bodies of the OAuth routes.

use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::routes::constraints::{OauthProviderCode, ProviderCode};

/// Akhrot's success envelope.
#[derive(Debug, Serialize, ToSchema)]
pub struct Envelope<T> {
    /// Always `success`.
    #[schema(example = "success")]
    pub status: &'static str,
    pub data: T,
}

/// A new OAuth session.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct CreateSessionBody {
    /// The provider code (`GET /docs/providers`).
    #[schema(value_type = OauthProviderCode, example = "google")]
    pub provider: String,
    /// Where the end user is sent back after authorizing, with `status`, `provider` and either
    /// `connection_id` or `error` in the query; the session binds it. Once the account keeps a list
    /// (`PUT /oauth/redirect-uris`), one of those, exactly; without one, any `https` URI, or `http`
    /// on 127.0.0.1, `[::1]` or `localhost`, without userinfo or fragment. Left out: the flow ends on
    /// Latchkey's own page.
    #[schema(
        format = "uri",
        max_length = 2048,
        pattern = r"^[Hh][Tt][Tt][Pp][Ss]?://[^\s/?#]+([/?][^\s#]*)?$"
    )]
    pub redirect_uri: Option<String>,
    /// Up to 50 scopes to ask for, each printable ASCII without spaces, `"` or `\`, at most 256
    /// characters; the provider's defaults when left out or empty.
    #[schema(max_items = 50, min_length = 1, max_length = 256, pattern = r"^[!#-\[\]-~]+$")]
    pub scopes: Option<Vec<String>>,
    /// The end user the connection is for (several per account and provider), up to 256 bytes;
    /// none: the account.
    #[schema(max_length = 256)]
    pub end_user_id: Option<String>,
}

/// A session: the URL the end user must visit.
#[derive(Clone, Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SessionBody {
    pub url: String,
    pub session_id: String,
    /// The session expires 10 minutes after creation (`SESSION_EXPIRED` after).
    pub expires_at: Option<String>,
}

/// A new session: the URL the end user must visit at the top level, as Akhrot's clients read it
/// (`url`), and again in the `{status, data}` envelope of the first shape of this answer.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SessionCreatedBody {
    /// Always `success`.
    #[schema(example = "success")]
    pub status: &'static str,
    /// Send the end user here: the provider's authorization page.
    pub url: String,
    pub session_id: String,
    pub expires_at: Option<String>,
    /// The same session, as first answered.
    pub data: SessionBody,
}

/// What the provider sends the end user back with. Other parameters providers add (`iss`, `scope`,
/// Google's `authuser`, …) are ignored: the state alone binds the session and its provider.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CallbackParams {
    /// The session's state, as the provider sends it back; a callback without it is refused.
    #[param(required = true, min_length = 1)]
    pub state: Option<String>,
    pub code: Option<String>,
    pub error: Option<String>,
    pub error_description: Option<String>,
}

/// A completed connection, when the session named no redirect URI to send the end user to.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CallbackBody {
    /// `connected` or `error`.
    pub status: &'static str,
    /// `connected`, or the error: the provider's (`access_denied`, `invalid_grant`, …) or
    /// `invalid_state`, `session_expired`, `temporarily_unavailable`.
    pub outcome: String,
    pub provider: String,
    pub connection_id: Option<String>,
    pub message: String,
}

/// Which credential to fetch.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct FetchTokenBody {
    #[schema(value_type = ProviderCode, example = "google")]
    pub provider: String,
    /// The end user whose connection to use; none: the account's own.
    pub end_user_id: Option<String>,
}

/// A usable credential.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TokenBody {
    pub access_token: String,
    /// `null` for credentials that do not expire (API keys).
    pub expires_at: Option<String>,
    /// The granted scopes.
    pub scope: Vec<String>,
    pub provider_email: Option<String>,
    /// `oauth2`, `api_key` or `mtproto`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Telegram only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub api_id: Option<String>,
    /// Telegram only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub api_hash: Option<String>,
}

/// Which end user's connection.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct EndUserParams {
    pub end_user_id: Option<String>,
}

/// A disconnected provider.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DisconnectedBody {
    pub connection_id: String,
    pub provider: String,
    /// Whether the provider confirmed it revoked the grant (false: it offers no revocation).
    pub revoked_at_provider: bool,
}

/// A provider's service: what its tokens reach.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ProviderServiceBody {
    pub code: String,
    pub name: String,
    pub scopes: Vec<String>,
    pub api_base_url: String,
}

/// A provider this deployment enables.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ProviderBody {
    /// The code for `/tokens/fetch` and `/oauth/sessions`.
    pub code: String,
    pub name: String,
    /// `oauth2`, `api_key` or `mtproto`.
    #[serde(rename = "type")]
    pub kind: String,
    pub default_scopes: Vec<String>,
    pub services: Vec<ProviderServiceBody>,
    pub docs_url: String,
    /// OAuth providers: whether the deployment has an OAuth app for it (an account can register
    /// its own). API-key providers: always true.
    pub configured: bool,
}

/// The enabled providers.
#[derive(Debug, Serialize, ToSchema)]
pub struct ProviderList {
    pub data: Vec<ProviderBody>,
}

/// The account's allowed redirect URIs.
#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RedirectUrisBody {
    /// Absolute http(s) URLs without a fragment, up to 2048 characters, matched exactly; at most 50.
    #[schema(
        max_items = 50,
        format = "uri",
        max_length = 2048,
        pattern = r"^[Hh][Tt][Tt][Pp][Ss]?://[^\s/?#]+([/?][^\s#]*)?$"
    )]
    pub redirect_uris: Vec<String>,
}

/// Which stored tokens (AGNT).
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct OauthTokensParams {
    /// The user or identity the tokens belong to (the end user of the connection).
    #[param(required = true, min_length = 1)]
    pub identifier_id: Option<String>,
    /// The provider, e.g. `google`, `microsoft`.
    #[param(required = true, min_length = 1)]
    pub resource: Option<String>,
}

/// A stored OAuth token's metadata: never the token.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct OauthTokenBody {
    pub id: String,
    pub identifier_id: String,
    pub resource: String,
    pub scopes: Vec<String>,
    /// `active` or `needs_reauthorization`.
    pub status: String,
    pub expires_at: Option<String>,
    pub created_at: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct OauthTokenList {
    pub data: Vec<OauthTokenBody>,
}

/// A backend asks for an end user's provider token (AuthOS).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProviderTokenRequestBody {
    /// An API-key provider without a stored key is refused (400: store it with `PUT /credentials`),
    /// one whose key is write-only too (403).
    #[schema(value_type = ProviderCode, example = "google")]
    pub provider: String,
    /// One of the calling service's users (`usr_…`).
    #[schema(example = "usr_0123456789abcdef")]
    pub user_id: String,
    /// Scopes the caller needs, written as for `POST /oauth/sessions`; any the connection lacks make
    /// the answer `action_required`.
    #[schema(max_items = 50, min_length = 1, max_length = 256, pattern = r"^[!#-\[\]-~]+$")]
    pub scopes: Option<Vec<String>>,
    /// Where the end user returns after re-authorizing: one of the service's `redirect_uris`,
    /// exactly; left out, the service's only one (or, with none, Latchkey's own answer).
    #[schema(
        format = "uri",
        max_length = 2048,
        pattern = r"^[Hh][Tt][Tt][Pp][Ss]?://[^\s/?#]+([/?][^\s#]*)?$"
    )]
    pub redirect_uri: Option<String>,
}

/// The provider account a token acts as.
#[derive(Debug, Serialize, ToSchema)]
pub struct ProviderAccountBody {
    /// The connection's id.
    pub id: String,
    pub email: Option<String>,
}

/// `ok` with the token, or `action_required` with where to send the end user. `Debug` hides the
/// token and the `reauth_url` (its state is a single-use credential for the user's consent).
#[derive(Serialize, ToSchema)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum ProviderTokenBody {
    Ok {
        access_token: String,
        expires_at: Option<String>,
        scopes: Vec<String>,
        provider: String,
        account: ProviderAccountBody,
    },
    ActionRequired {
        /// `connection_required` (never connected or disconnected), `reauthorization_required`
        /// (the provider refused the refresh), or `insufficient_scope` (incremental authorization).
        code: &'static str,
        /// Send the end user here, exactly as given.
        reauth_url: String,
        missing_scopes: Vec<String>,
        provider: String,
    },
}

impl std::fmt::Debug for ProviderTokenBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Ok { provider, scopes, .. } => f
                .debug_struct("Ok")
                .field("provider", provider)
                .field("scopes", scopes)
                .field("access_token", &"<redacted>")
                .finish_non_exhaustive(),
            Self::ActionRequired { code, provider, .. } => f
                .debug_struct("ActionRequired")
                .field("code", code)
                .field("provider", provider)
                .field("reauth_url", &"<redacted>")
                .finish_non_exhaustive(),
        }
    }
}
