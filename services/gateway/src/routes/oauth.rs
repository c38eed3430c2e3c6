//! OAuth connections and provider tokens (Akhrot seeds 000/001, AGNT 003): sessions, the callback
//! providers send the end user back to, `/tokens/fetch`, disconnect, the provider catalogue, the
//! account's allowed redirect URIs and the stored tokens' metadata. Field names are the seeds'
//! (camelCase); `/tokens/fetch` answers in Akhrot's `{status, data}` envelope, `/oauth/sessions` in
//! it and with `url` at the top level too. `/v1/connections/telegram` keeps a Telegram session.

mod bodies;
mod connections;
mod providers;
mod redirect_uris;
mod sessions;
mod telegram;
mod tokens;

pub(crate) use connections::*;
pub(crate) use providers::*;
pub(crate) use redirect_uris::*;
pub(crate) use sessions::*;
pub(crate) use telegram::*;
pub(crate) use tokens::*;

use chrono::{DateTime, SecondsFormat, Utc};
use latchkey_errors::{ApiError, FieldError};

use crate::problem::Problem;
use bodies::Envelope;

/// Akhrot's timestamp format: `2024-01-15T12:00:00.000Z`; `None` for 0 (no expiry).
pub(super) fn iso_ms(ms: i64) -> Option<String> {
    if ms == 0 {
        return None;
    }
    DateTime::<Utc>::from_timestamp_millis(ms).map(|time| time.to_rfc3339_opts(SecondsFormat::Millis, true))
}

fn success<T>(data: T) -> Envelope<T> {
    Envelope {
        status: "success",
        data,
    }
}

pub(super) fn required(field: &str, value: &str) -> Result<(), Problem> {
    if value.trim().is_empty() {
        return Err(Problem(ApiError::validation(vec![FieldError::new(field, "required")])));
    }
    Ok(())
}
