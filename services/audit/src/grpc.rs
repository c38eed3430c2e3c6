//! The gRPC face of the audit log. Only mesh callers (the gateway) reach it today; the account is
//! always the caller's, never a field of the message.

use latchkey_errors::{ApiError, FieldError};
use latchkey_proto::audit::v1::{self as pb, audit_service_server::AuditService};
use tonic::{Request, Response, Status};
use tracing::instrument;

use crate::{Audit, AuditError, ChainEntry, EntryQuery, Order, verify_entries};

pub(crate) struct GrpcApi {
    audit: Audit,
}

impl GrpcApi {
    pub(crate) fn new(audit: Audit) -> Self {
        Self { audit }
    }
}

fn entry_to_pb(entry: ChainEntry) -> pb::AuditEntry {
    let mut data = Vec::new();
    crate::chain::write_canonical(&entry.data, &mut data);
    pb::AuditEntry {
        seq: entry.seq,
        event_id: entry.event_id,
        r#type: entry.event_type,
        time_ms: entry.time_ms,
        actor: entry.actor,
        subject: entry.subject,
        decision_id: entry.decision_id,
        data_json: String::from_utf8_lossy(&data).into_owned(),
        prev_hash: entry.prev_hash,
        hash: entry.hash,
    }
}

#[tonic::async_trait]
impl AuditService for GrpcApi {
    #[instrument(skip_all, err)]
    async fn list_entries(
        &self,
        request: Request<pb::ListEntriesRequest>,
    ) -> Result<Response<pb::ListEntriesResponse>, Status> {
        let account = self.audit.mesh.mesh_account(&request)?;
        let message = request.into_inner();
        if message.limit > 1000 {
            return Err(AuditError::Invalid(ApiError::validation(vec![FieldError::new(
                "limit",
                "must be at most 1000",
            )]))
            .into());
        }
        let query = EntryQuery {
            event_type: Some(message.r#type).filter(|t| !t.is_empty()),
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

    #[instrument(skip_all, err)]
    async fn verify_chain(
        &self,
        request: Request<pb::VerifyChainRequest>,
    ) -> Result<Response<pb::VerifyChainResponse>, Status> {
        let account = self.audit.mesh.mesh_account(&request)?;
        let chain = self.audit.chain_of(&account).await?;
        let verification = verify_entries(&chain);
        Ok(Response::new(pb::VerifyChainResponse {
            valid: verification.first_broken_seq.is_none(),
            entries_checked: verification.entries_checked,
            first_broken_seq: verification.first_broken_seq.unwrap_or_default(),
            head_hash: verification.head_hash,
        }))
    }
}
