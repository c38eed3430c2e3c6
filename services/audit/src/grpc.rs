//! The gRPC face of the audit log. Only mesh callers (the gateway) reach it; the account is always
//! the caller's, never a field of the message.

use std::pin::Pin;

use futures::{Stream, TryStreamExt};
use latchkey_errors::{ApiError, FieldError};
use latchkey_proto::audit::v1::{self as pb, audit_service_server::AuditService};
use tonic::{Request, Response, Status};
use tracing::instrument;

use crate::{Audit, AuditError, Checkpoint, EntryQuery, Order, StoredEntry, TypeFilter};

pub(crate) struct GrpcApi {
    audit: Audit,
}

impl GrpcApi {
    pub(crate) fn new(audit: Audit) -> Self {
        Self { audit }
    }
}

fn entry_to_pb(entry: StoredEntry) -> pb::AuditEntry {
    pb::AuditEntry {
        seq: entry.seq,
        event_id: entry.event_id,
        r#type: entry.event_type,
        time_ms: entry.time_ms,
        actor: entry.actor,
        subject: entry.subject,
        decision_id: entry.decision_id,
        data_json: entry.data_json,
        prev_hash: entry.prev_hash,
        hash: entry.hash,
        account_id: entry.account_id.into_string(),
    }
}

fn checkpoint_to_pb(checkpoint: Checkpoint) -> pb::Checkpoint {
    pb::Checkpoint {
        account_id: checkpoint.account_id,
        seq: checkpoint.seq,
        hash: checkpoint.hash,
        time_ms: checkpoint.time_ms,
        kid: checkpoint.kid,
        signature: checkpoint.signature,
    }
}

fn invalid(field: &str, message: &str) -> Status {
    AuditError::Invalid(ApiError::validation(vec![FieldError::new(field, message)])).into()
}

fn present(value: String) -> Option<String> {
    Some(value).filter(|v| !v.is_empty())
}

fn bound(ms: i64) -> Option<i64> {
    Some(ms).filter(|ms| *ms != 0)
}

type EntryStream = Pin<Box<dyn Stream<Item = Result<pb::AuditEntry, Status>> + Send>>;

#[tonic::async_trait]
impl AuditService for GrpcApi {
    type ExportEntriesStream = EntryStream;

    #[instrument(skip_all, err(level = "debug"))]
    async fn list_entries(
        &self,
        request: Request<pb::ListEntriesRequest>,
    ) -> Result<Response<pb::ListEntriesResponse>, Status> {
        let account = self.audit.mesh.caller(&request)?.account;
        let message = request.into_inner();
        if message.limit > 1000 {
            return Err(invalid("limit", "must be at most 1000"));
        }
        let query = EntryQuery {
            event_type: present(message.r#type).map(|t| TypeFilter::parse(&t)),
            actor: present(message.actor),
            subject: present(message.subject),
            agent: present(message.agent),
            from_ms: bound(message.from_ms),
            to_ms: bound(message.to_ms),
            cursor: Some(message.cursor).filter(|c| *c > 0),
            limit: if message.limit == 0 { 50 } else { message.limit },
            order: if message.newest_first {
                Order::NewestFirst
            } else {
                Order::OldestFirst
            },
        };
        let (entries, next) = self.audit.list_entries(&account, &query).await?;
        Ok(Response::new(pb::ListEntriesResponse {
            entries: entries.into_iter().map(entry_to_pb).collect(),
            next_cursor: next.unwrap_or_default(),
        }))
    }

    #[instrument(skip_all, err(level = "debug"))]
    async fn verify_chain(
        &self,
        request: Request<pb::VerifyChainRequest>,
    ) -> Result<Response<pb::VerifyChainResponse>, Status> {
        let account = self.audit.mesh.caller(&request)?.account;
        let (verification, checkpoints_checked) = self.audit.verify_chain(&account).await?;
        Ok(Response::new(pb::VerifyChainResponse {
            valid: verification.is_valid(),
            entries_checked: verification.entries_checked,
            first_broken_seq: verification.first_broken_seq.unwrap_or_default(),
            head_hash: verification.head_hash,
            head_seq: verification.head_seq,
            checkpoints_checked,
            first_contradicted_checkpoint_seq: verification.first_contradicted_checkpoint.unwrap_or_default(),
        }))
    }

    #[instrument(skip_all, err(level = "debug"))]
    async fn export_entries(
        &self,
        request: Request<pb::ExportEntriesRequest>,
    ) -> Result<Response<Self::ExportEntriesStream>, Status> {
        let account = self.audit.mesh.caller(&request)?.account;
        let entries = self.audit.export(&account).map_ok(entry_to_pb).map_err(Status::from);
        Ok(Response::new(Box::pin(entries)))
    }

    #[instrument(skip_all, err(level = "debug"))]
    async fn sign_checkpoint(
        &self,
        request: Request<pb::SignCheckpointRequest>,
    ) -> Result<Response<pb::Checkpoint>, Status> {
        let account = self.audit.mesh.caller(&request)?.account;
        let checkpoint = self.audit.sign_checkpoint(&account).await?;
        Ok(Response::new(checkpoint_to_pb(checkpoint)))
    }

    #[instrument(skip_all, err(level = "debug"))]
    async fn list_checkpoints(
        &self,
        request: Request<pb::ListCheckpointsRequest>,
    ) -> Result<Response<pb::ListCheckpointsResponse>, Status> {
        let account = self.audit.mesh.caller(&request)?.account;
        let message = request.into_inner();
        if message.limit > 1000 {
            return Err(invalid("limit", "must be at most 1000"));
        }
        let limit = if message.limit == 0 { 50 } else { message.limit };
        let cursor = Some(message.cursor).filter(|c| *c > 0);
        let (checkpoints, next) = self.audit.checkpoints(&account, limit, cursor).await?;
        Ok(Response::new(pb::ListCheckpointsResponse {
            checkpoints: checkpoints.into_iter().map(checkpoint_to_pb).collect(),
            next_cursor: next.unwrap_or_default(),
        }))
    }

    #[instrument(skip_all, err(level = "debug"))]
    async fn get_checkpoint_keys(
        &self,
        _request: Request<pb::GetCheckpointKeysRequest>,
    ) -> Result<Response<pb::GetCheckpointKeysResponse>, Status> {
        Ok(Response::new(pb::GetCheckpointKeysResponse {
            keys_json: serde_json::Value::Array(self.audit.checkpoint_jwks()).to_string(),
        }))
    }

    #[instrument(skip_all, err(level = "debug"))]
    async fn get_analytics(
        &self,
        request: Request<pb::GetAnalyticsRequest>,
    ) -> Result<Response<pb::GetAnalyticsResponse>, Status> {
        let account = self.audit.mesh.caller(&request)?.account;
        let message = request.into_inner();
        let counts = self
            .audit
            .daily_counts(
                &account,
                Some(message.service_id.as_str()).filter(|id| !id.is_empty()),
                bound(message.from_ms),
                bound(message.to_ms),
            )
            .await?;
        Ok(Response::new(pb::GetAnalyticsResponse {
            counts: counts
                .into_iter()
                .map(|count| pb::DailyTypeCount {
                    day: chrono_day(count.day),
                    r#type: count.event_type,
                    count: count.count,
                })
                .collect(),
        }))
    }
}

/// Days since the Unix epoch as `YYYY-MM-DD` (proleptic Gregorian, UTC).
fn chrono_day(days: i64) -> String {
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}")
}

#[cfg(test)]
mod tests;
