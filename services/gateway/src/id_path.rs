//! Ids in the request path, parsed where they enter (STYLE.md points 7 and 18): a handler takes
//! `IdPath<AgentId>` (or `IdPath<(EndpointId, MessageId)>`) and never sees the text. An id that is
//! not one of its kind (a wildcard, a dot, another kind's prefix, too long) names nothing, so it is
//! answered as the service behind answers an unknown id, the same 404 and problem body, without
//! calling the service.

use axum::{
    extract::{FromRequestParts, Path},
    response::{IntoResponse, Response},
};
use http::request::Parts;
use latchkey_errors::ApiError;
use latchkey_ids::{
    AgentId, ApiKeyId, ApprovalId, CertificateId, CertificateKid, DomainId, EndpointId, MessageId, PolicyId,
};
use serde::de::DeserializeOwned;

use crate::problem::Problem;

/// The ids of the request path, parsed: one id, or a pair in path order.
pub(crate) struct IdPath<T>(pub T);

/// What a path may hold: ids of known kinds.
pub(crate) trait PathIds: Sized {
    /// The path's segments as text.
    type Text: DeserializeOwned + Send;

    /// The ids, or the problem an unknown id of the first one at fault gets.
    fn parse(text: Self::Text) -> Result<Self, Problem>;
}

/// One id kind per line, with the name its service gives it in its not-found answer
/// (`ApiError::not_found`), which a malformed id gets too.
macro_rules! path_ids {
    ($($id:ty => $not_found:literal),+ $(,)?) => {$(
        impl PathIds for $id {
            type Text = String;

            fn parse(text: String) -> Result<Self, Problem> {
                <$id>::try_from(text).map_err(|_| Problem(ApiError::not_found($not_found)))
            }
        }
    )+};
}

path_ids!(
    AgentId => "agent",
    ApiKeyId => "API key",
    ApprovalId => "approval",
    PolicyId => "policy",
    EndpointId => "webhook endpoint",
    MessageId => "webhook message",
    DomainId => "domain",
    CertificateId => "certificate",
    CertificateKid => "certificate",
);

/// Two ids, checked in path order, as the service looks them up: the first one's answer wins.
impl<A, B> PathIds for (A, B)
where
    A: PathIds<Text = String>,
    B: PathIds<Text = String>,
{
    type Text = (String, String);

    fn parse((first, second): (String, String)) -> Result<Self, Problem> {
        Ok((A::parse(first)?, B::parse(second)?))
    }
}

impl<S, T> FromRequestParts<S> for IdPath<T>
where
    S: Send + Sync,
    T: PathIds,
{
    /// A path axum cannot read answers as it did before ids were parsed; a malformed id answers
    /// as an unknown one.
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Response> {
        let Path(text) = Path::<T::Text>::from_request_parts(parts, state)
            .await
            .map_err(IntoResponse::into_response)?;
        T::parse(text).map(Self).map_err(IntoResponse::into_response)
    }
}

#[cfg(test)]
mod tests;
