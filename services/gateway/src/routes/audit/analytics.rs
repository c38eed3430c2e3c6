//! `GET /api/service/analytics` (AuthOS seed 004): counts of the calling service's events (its
//! users, subscriptions, keys and settings) by type and UTC day, computed by the audit service from
//! the account's chain. The seed names the route but shows no response shape; this one is
//! documented in docs/directory.md and the OpenAPI document.

use std::collections::BTreeMap;

use axum::{Json, extract::State};
use chrono::{DateTime, Duration, Utc};
use latchkey_proto::audit::v1 as pb;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::{invalid, time_param};
use crate::{
    openapi::responses as r, problem::Problem, query::ValidQuery, service_caller::ServiceCaller, state::AppState,
};

/// The range counted when none is given.
const DEFAULT_DAYS: i64 = 30;
/// The longest range one call counts.
const MAX_DAYS: i64 = 366;

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AnalyticsQuery {
    /// Count events at or after this time (RFC 3339). Default: 30 days before `to`.
    #[param(value_type = Option<String>, format = DateTime)]
    pub from: Option<String>,
    /// Count events before this time (RFC 3339). Default: now.
    #[param(value_type = Option<String>, format = DateTime)]
    pub to: Option<String>,
}

/// One UTC day's events.
#[derive(Debug, Serialize, ToSchema)]
pub struct DailyAnalytics {
    /// `YYYY-MM-DD`, UTC.
    pub date: String,
    pub total: i64,
    /// Count per event type, e.g. `{"token.issued": 12}`.
    pub events_by_type: BTreeMap<String, i64>,
}

/// The account's activity over a time range.
#[derive(Debug, Serialize, ToSchema)]
pub struct AnalyticsBody {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub total_events: i64,
    /// Count per event type over the whole range.
    pub events_by_type: BTreeMap<String, i64>,
    /// Days with at least one event, oldest first.
    pub daily: Vec<DailyAnalytics>,
}

/// Service analytics
///
/// Counts of the calling service's events by type and by UTC day: `user.*`, `subscription.*`,
/// `service_key.*` and `service.*` of this service, from the account's audit chain.
#[utoipa::path(
    get,
    path = "/api/service/analytics",
    tag = "service-api",
    params(AnalyticsQuery),
    responses(
        (status = 200, description = "Event counts", body = AnalyticsBody),
        r::ServiceApi,
    )
)]
pub(crate) async fn service_analytics(
    State(state): State<AppState>,
    caller: ServiceCaller,
    ValidQuery(query): ValidQuery<AnalyticsQuery>,
) -> Result<Json<AnalyticsBody>, Problem> {
    let to = time_param("to", query.to)?.unwrap_or_else(|| Utc::now().timestamp_millis());
    let from = time_param("from", query.from)?.unwrap_or(to - Duration::days(DEFAULT_DAYS).num_milliseconds());
    if from >= to {
        return Err(invalid("from", "must be before `to`"));
    }
    if to - from > Duration::days(MAX_DAYS).num_milliseconds() {
        return Err(invalid("from", "the range may span at most 366 days"));
    }
    let request = caller.grpc_request(pb::GetAnalyticsRequest {
        from_ms: from,
        to_ms: to,
        service_id: caller.service_id.to_string(),
    });
    let counts = state.audit.clone().get_analytics(request).await?.into_inner().counts;
    let mut events_by_type: BTreeMap<String, i64> = BTreeMap::new();
    let mut daily: Vec<DailyAnalytics> = Vec::new();
    for count in counts {
        *events_by_type.entry(count.r#type.clone()).or_default() += count.count;
        if daily.last().is_none_or(|day| day.date != count.day) {
            daily.push(DailyAnalytics {
                date: count.day.clone(),
                total: 0,
                events_by_type: BTreeMap::new(),
            });
        }
        let day = daily.last_mut().expect("pushed above");
        day.total += count.count;
        *day.events_by_type.entry(count.r#type).or_default() += count.count;
    }
    let at = |ms: i64| DateTime::from_timestamp_millis(ms).unwrap_or_default();
    Ok(Json(AnalyticsBody {
        from: at(from),
        to: at(to),
        total_events: events_by_type.values().sum(),
        events_by_type,
        daily,
    }))
}
