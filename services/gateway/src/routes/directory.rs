//! AuthOS's routes (seed 004), served by the directory service: the account manages its
//! organizations, their services and each service's API keys under `/api/organizations`; a
//! service's backend calls the service API (`/api/service/*`) with one of those keys, and sees its
//! own service only (`service_caller`). Field names are AuthOS's: snake_case. See docs/directory.md.

mod info;
mod organizations;
mod service_keys;
mod services;
mod subscriptions;
mod users;

pub(crate) use info::*;
pub(crate) use organizations::*;
pub(crate) use service_keys::*;
pub(crate) use services::*;
pub(crate) use subscriptions::*;
pub(crate) use users::*;

use chrono::{DateTime, Utc};
use latchkey_proto::directory::v1 as pb;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::time_from_ms;

/// What kind of application a service is (AuthOS's `service_type`); it changes nothing in how
/// Latchkey treats it.
#[derive(Clone, Copy, Debug, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ServiceType {
    Web,
    Api,
    Mobile,
    Desktop,
}

impl ServiceType {
    fn as_str(self) -> &'static str {
        match self {
            Self::Web => "web",
            Self::Api => "api",
            Self::Mobile => "mobile",
            Self::Desktop => "desktop",
        }
    }
}

/// A service, as its management routes and `GET /api/service/info` answer it.
#[derive(Debug, Serialize, ToSchema)]
pub struct ServiceBody {
    #[schema(example = "svc_0123456789abcdef")]
    pub id: String,
    #[schema(example = "main-app")]
    pub slug: String,
    pub name: String,
    /// The organization's slug.
    #[schema(example = "acme")]
    pub organization: String,
    #[schema(value_type = ServiceType)]
    pub service_type: String,
    pub description: String,
    /// Where a hosted re-consent may return the end user: matched exactly.
    pub redirect_uris: Vec<String>,
    /// Providers the service's provider-token requests may name; empty: every provider.
    pub allowed_providers: Vec<String>,
    /// Scopes its provider-token requests may ask for; empty: any.
    pub scopes: Vec<String>,
    pub created_at: Option<DateTime<Utc>>,
    pub updated_at: Option<DateTime<Utc>>,
}

impl From<pb::Service> for ServiceBody {
    fn from(service: pb::Service) -> Self {
        Self {
            id: service.id,
            slug: service.slug,
            name: service.name,
            organization: service.organization,
            service_type: service.service_type,
            description: service.description,
            redirect_uris: service.redirect_uris,
            allowed_providers: service.allowed_providers,
            scopes: service.scopes,
            created_at: time_from_ms(service.created_at_ms),
            updated_at: time_from_ms(service.updated_at_ms),
        }
    }
}

/// A change to a service: only the fields present change; a list present replaces the list.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateServiceBody {
    /// 1 to 128 characters.
    #[schema(min_length = 1, max_length = 128)]
    pub name: Option<String>,
    pub service_type: Option<ServiceType>,
    /// At most 1024 characters.
    #[schema(max_length = 1024)]
    pub description: Option<String>,
    /// At most 20, each an `https` URL (or `http` on 127.0.0.1, `[::1]` or localhost) without
    /// userinfo or fragment, at most 2048 characters.
    #[schema(max_items = 20)]
    pub redirect_uris: Option<Vec<String>>,
    /// At most 50 provider codes.
    #[schema(max_items = 50)]
    pub allowed_providers: Option<Vec<String>>,
    /// At most 100 scopes, each 1 to 256 printable ASCII characters without spaces, `"` or `\`.
    #[schema(max_items = 100)]
    pub scopes: Option<Vec<String>>,
}

impl UpdateServiceBody {
    pub(crate) fn into_fields(self) -> pb::ServiceFields {
        let mut present_lists = Vec::new();
        let mut list = |name: &str, list: Option<Vec<String>>| {
            if list.is_some() {
                present_lists.push(name.to_owned());
            }
            list.unwrap_or_default()
        };
        let redirect_uris = list("redirect_uris", self.redirect_uris);
        let allowed_providers = list("allowed_providers", self.allowed_providers);
        let scopes = list("scopes", self.scopes);
        pb::ServiceFields {
            name: self.name,
            service_type: self.service_type.map(|kind| kind.as_str().to_owned()),
            description: self.description,
            redirect_uris,
            allowed_providers,
            scopes,
            present_lists,
        }
    }
}

/// A page of a list: `limit` 1 to 100 (default 50), `offset` from 0.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<u32>,
    #[param(minimum = 0, maximum = 1_000_000_000)]
    pub offset: Option<u64>,
}
