//! Approvals: token requests a `require_approval` rule held. Each is created pending (with an
//! `approval.requested` event), then approved or denied by a person (`approval.approved`,
//! `approval.denied`), or expires if nobody decides in time. An approved request yields its token
//! once: the client asks for the token again naming the approval, and the redemption is a
//! conditional update that only one caller can win.
//!
//! "Expired" is not written anywhere: it is a pending row whose deadline has passed, so no sweeper
//! has to run for the status to be right.

use latchkey_errors::{ApiError, ErrorCode};
use latchkey_events::{
    Envelope,
    catalogue::{ApprovalApproved, ApprovalDenied, ApprovalRequested},
};
use latchkey_ids::{AccountId, AgentId, ApprovalId, DecisionId, PolicyId};
use latchkey_server::InfraError;
use latchkey_storage::{
    Backend, now_ms,
    sqlx::{self, Row, any::AnyRow},
};

use crate::{EVENT_SOURCE, Policy, PolicyError, error::stored_id};

/// Default lifetime of a pending approval, and of an approved one's chance to be redeemed.
pub const DEFAULT_APPROVAL_TTL_SECS: u64 = 3600;
/// Most approvals one page lists, and the default page size.
pub const MAX_APPROVAL_PAGE: u32 = 100;
pub const DEFAULT_APPROVAL_PAGE: u32 = 20;
const MAX_NOTE_CHARS: usize = 500;
/// Most pending approvals one agent may have at once: each is a person's attention, so an agent
/// (or a leaked agent secret) cannot bury the approvers. Further held requests are refused with
/// `RATE_LIMITED` until one is decided or expires.
pub const MAX_PENDING_APPROVALS_PER_AGENT: i64 = 20;

/// Where an approval stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ApprovalStatus {
    Pending,
    Approved,
    Denied,
    Expired,
}

impl ApprovalStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Approved => "approved",
            Self::Denied => "denied",
            Self::Expired => "expired",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "pending" => Some(Self::Pending),
            "approved" => Some(Self::Approved),
            "denied" => Some(Self::Denied),
            "expired" => Some(Self::Expired),
            _ => None,
        }
    }
}

/// A held token request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Approval {
    pub id: ApprovalId,
    pub status: ApprovalStatus,
    pub agent_id: AgentId,
    pub scope: Vec<String>,
    pub target_service: String,
    pub ttl: i64,
    pub intent: Option<String>,
    pub policy_id: PolicyId,
    pub policy_name: String,
    pub rule_index: u32,
    pub decision_id: DecisionId,
    /// Who asked: an API key id or an agent id, as the caller recorded it.
    pub requested_by: Option<String>,
    pub requested_at_ms: i64,
    pub expires_at_ms: i64,
    pub decided_at_ms: Option<i64>,
    pub decided_by: Option<String>,
    pub note: Option<String>,
    pub redeemed_at_ms: Option<i64>,
}

/// The request an approval holds, as evaluation saw it.
#[derive(Clone, Debug)]
pub(crate) struct HeldRequest<'a> {
    pub agent_id: &'a AgentId,
    pub scope: &'a [String],
    pub target_service: &'a str,
    pub ttl: i64,
    pub intent: Option<&'a str>,
    pub policy_id: &'a PolicyId,
    pub policy_name: &'a str,
    pub rule_index: u32,
    pub decision_id: &'a DecisionId,
    pub requested_by: Option<&'a str>,
}

/// One page of approvals and how many match in all.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApprovalPage {
    pub approvals: Vec<Approval>,
    pub total: u64,
}

const APPROVAL_COLUMNS: &str = "id, status, agent_id, scope_json, target_service, ttl, intent, policy_id, \
     policy_name, rule_index, decision_id, requested_by, requested_at, expires_at, decided_at, decided_by, note, \
     redeemed_at";

fn approval_from_row(row: &AnyRow, now_ms: i64) -> Result<Approval, PolicyError> {
    let id: String = row.try_get(0)?;
    let status: String = row.try_get(1)?;
    let agent_id: String = row.try_get(2)?;
    let scope_json: String = row.try_get(3)?;
    let target_service: String = row.try_get(4)?;
    let ttl: i64 = row.try_get(5)?;
    let intent: Option<String> = row.try_get(6)?;
    let policy_id: String = row.try_get(7)?;
    let policy_name: String = row.try_get(8)?;
    let rule_index: i64 = row.try_get(9)?;
    let decision_id: String = row.try_get(10)?;
    let requested_by: Option<String> = row.try_get(11)?;
    let requested_at_ms: i64 = row.try_get(12)?;
    let expires_at_ms: i64 = row.try_get(13)?;
    let decided_at_ms: Option<i64> = row.try_get(14)?;
    let decided_by: Option<String> = row.try_get(15)?;
    let note: Option<String> = row.try_get(16)?;
    let redeemed_at_ms: Option<i64> = row.try_get(17)?;
    let record = format!("approval {id}");
    let corrupt = |reason: String| PolicyError::Corrupt {
        policy_id: record.clone(),
        reason,
    };
    let scope: Vec<String> = serde_json::from_str(&scope_json).map_err(|error| corrupt(error.to_string()))?;
    let status = match ApprovalStatus::parse(&status) {
        Some(ApprovalStatus::Pending) if expires_at_ms <= now_ms => ApprovalStatus::Expired,
        Some(status) => status,
        None => return Err(corrupt(format!("unknown status {status:?}"))),
    };
    Ok(Approval {
        rule_index: u32::try_from(rule_index).unwrap_or_default(),
        id: stored_id(&record, &id)?,
        status,
        agent_id: stored_id(&record, &agent_id)?,
        scope,
        target_service,
        ttl,
        intent,
        policy_id: stored_id(&record, &policy_id)?,
        policy_name,
        decision_id: stored_id(&record, &decision_id)?,
        requested_by,
        requested_at_ms,
        expires_at_ms,
        decided_at_ms,
        decided_by,
        note,
        redeemed_at_ms,
    })
}

fn unprocessable(message: String) -> PolicyError {
    PolicyError::Invalid(ApiError::new(ErrorCode::Unprocessable, message))
}

/// Why an approval cannot yield a token (or be decided) now, in words the caller can act on.
fn refusal(approval: &Approval) -> PolicyError {
    let id = &approval.id;
    unprocessable(match approval.status {
        ApprovalStatus::Pending => format!("approval {id} is still pending"),
        ApprovalStatus::Denied => format!("approval {id} was denied; it never yields a token"),
        ApprovalStatus::Expired => format!("approval {id} expired before anyone decided"),
        ApprovalStatus::Approved if approval.redeemed_at_ms.is_some() => {
            format!("approval {id} has already yielded its token; request a new one")
        }
        ApprovalStatus::Approved => format!("approval {id} was approved but its redemption window has passed"),
    })
}

/// What a redemption asks for: it must be what was approved. `None` ttl or intent takes the
/// approved one.
pub(crate) struct Redemption<'a> {
    pub agent_id: &'a AgentId,
    pub scope: &'a [String],
    pub target_service: &'a str,
    pub ttl: Option<i64>,
    pub intent: Option<&'a str>,
}

impl Policy {
    /// Holds a request: a pending approval and its `approval.requested` event, in one transaction.
    pub(crate) async fn hold(&self, account: &AccountId, held: HeldRequest<'_>) -> Result<Approval, PolicyError> {
        let now = now_ms();
        let approval = Approval {
            id: ApprovalId::new(),
            status: ApprovalStatus::Pending,
            agent_id: held.agent_id.clone(),
            scope: held.scope.to_vec(),
            target_service: held.target_service.to_owned(),
            ttl: held.ttl,
            intent: held.intent.map(str::to_owned),
            policy_id: held.policy_id.clone(),
            policy_name: held.policy_name.to_owned(),
            rule_index: held.rule_index,
            decision_id: held.decision_id.clone(),
            requested_by: held.requested_by.map(str::to_owned),
            requested_at_ms: now,
            expires_at_ms: now + self.approval_ttl_ms(),
            decided_at_ms: None,
            decided_by: None,
            note: None,
            redeemed_at_ms: None,
        };
        let scope_json = serde_json::to_string(&approval.scope).unwrap_or_else(|_| "[]".to_owned());
        let mut tx = self.db.begin_write().await?;
        // Counted in the writing transaction: exact on SQLite (one writer); on PostgreSQL two
        // concurrent holds may both see room, so the bound can be passed by the requests in flight.
        let (pending, soonest): (i64, Option<i64>) = sqlx::query_as(
            "SELECT COUNT(*), MIN(expires_at) FROM approvals \
             WHERE account_id = $1 AND agent_id = $2 AND status = 'pending' AND expires_at > $3",
        )
        .bind(account.as_str())
        .bind(approval.agent_id.as_str())
        .bind(now)
        .fetch_one(&mut *tx)
        .await?;
        if pending >= MAX_PENDING_APPROVALS_PER_AGENT {
            let wait_ms = soonest.map_or(0, |soonest| soonest - now).max(1000);
            return Err(InfraError::Throttled {
                message: format!(
                    "agent {} already has {pending} requests waiting for approval; decide them or let them expire",
                    approval.agent_id
                ),
                retry_after_secs: Some(u64::try_from(wait_ms).unwrap_or(1000).div_ceil(1000)),
            }
            .into());
        }
        sqlx::query(
            "INSERT INTO approvals (id, account_id, status, agent_id, scope_json, target_service, ttl, intent, \
             policy_id, policy_name, rule_index, decision_id, requested_by, requested_at, expires_at) \
             VALUES ($1, $2, 'pending', $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
        )
        .bind(approval.id.as_str())
        .bind(account.as_str())
        .bind(approval.agent_id.as_str())
        .bind(scope_json)
        .bind(&approval.target_service)
        .bind(approval.ttl)
        .bind(approval.intent.clone())
        .bind(approval.policy_id.as_str())
        .bind(&approval.policy_name)
        .bind(i64::from(approval.rule_index))
        .bind(approval.decision_id.as_str())
        .bind(approval.requested_by.clone())
        .bind(approval.requested_at_ms)
        .bind(approval.expires_at_ms)
        .execute(&mut *tx)
        .await?;
        let event = ApprovalRequested {
            approval_id: approval.id.to_string(),
            agent_id: approval.agent_id.to_string(),
            scope: approval.scope.clone(),
            audience: approval.target_service.clone(),
            policy_id: approval.policy_id.to_string(),
            rule_index: approval.rule_index,
            expires_at_ms: approval.expires_at_ms,
        };
        let mut envelope = Envelope::new(EVENT_SOURCE, account.as_str(), held.requested_by, &event);
        envelope.decisionid = Some(approval.decision_id.to_string());
        self.outbox.enqueue(&mut tx, &envelope).await?;
        self.outbox.commit(tx).await?;
        Ok(approval)
    }

    /// One of the account's approvals; another account's is not found, exactly like a missing one.
    pub async fn get_approval(&self, account: &AccountId, approval: &ApprovalId) -> Result<Approval, PolicyError> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {APPROVAL_COLUMNS} FROM approvals WHERE account_id = $1 AND id = $2"
        )))
        .bind(account.as_str())
        .bind(approval.as_str())
        .fetch_optional(self.db.pool())
        .await?;
        let row = row.ok_or(PolicyError::ApprovalNotFound)?;
        approval_from_row(&row, now_ms())
    }

    /// The account's approvals, newest first, optionally of one status; `limit` 1 to 100.
    pub async fn list_approvals(
        &self,
        account: &AccountId,
        status: Option<&str>,
        limit: u32,
        offset: u32,
    ) -> Result<ApprovalPage, PolicyError> {
        let status = match status.filter(|s| !s.is_empty()) {
            None => None,
            Some(text) => Some(
                ApprovalStatus::parse(text)
                    .ok_or_else(|| PolicyError::field("status", "must be one of pending, approved, denied, expired"))?,
            ),
        };
        let limit = if limit == 0 { DEFAULT_APPROVAL_PAGE } else { limit };
        if limit > MAX_APPROVAL_PAGE {
            return Err(PolicyError::field(
                "limit",
                format!("must be between 1 and {MAX_APPROVAL_PAGE}"),
            ));
        }
        // Pending and expired are both stored as pending; the deadline ($2) tells them apart.
        let (condition, bind_now) = match status {
            None => ("", false),
            Some(ApprovalStatus::Pending) => ("AND status = 'pending' AND expires_at > $2", true),
            Some(ApprovalStatus::Expired) => ("AND status = 'pending' AND expires_at <= $2", true),
            Some(ApprovalStatus::Approved) => ("AND status = 'approved'", false),
            Some(ApprovalStatus::Denied) => ("AND status = 'denied'", false),
        };
        let now = now_ms();
        let where_clause = format!("WHERE account_id = $1 {condition}");
        let (limit_at, offset_at) = if bind_now { ("$3", "$4") } else { ("$2", "$3") };
        let mut count = sqlx::query_as::<_, (i64,)>(sqlx::AssertSqlSafe(format!(
            "SELECT COUNT(*) FROM approvals {where_clause}"
        )))
        .bind(account.as_str());
        let mut page = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {APPROVAL_COLUMNS} FROM approvals {where_clause} ORDER BY requested_at DESC, id DESC \
             LIMIT {limit_at} OFFSET {offset_at}"
        )))
        .bind(account.as_str());
        if bind_now {
            count = count.bind(now);
            page = page.bind(now);
        }
        let (total,) = count.fetch_one(self.db.pool()).await?;
        let rows = page
            .bind(i64::from(limit))
            .bind(i64::from(offset))
            .fetch_all(self.db.pool())
            .await?;
        let approvals = rows
            .iter()
            .map(|row| approval_from_row(row, now))
            .collect::<Result<_, _>>()?;
        Ok(ApprovalPage {
            approvals,
            total: u64::try_from(total).unwrap_or_default(),
        })
    }

    /// Approves or denies a pending approval. Deciding one that is not pending (already decided, or
    /// expired) is `UNPROCESSABLE` and changes nothing.
    pub async fn decide_approval(
        &self,
        account: &AccountId,
        actor: Option<&str>,
        approval_id: &ApprovalId,
        approve: bool,
        note: Option<String>,
    ) -> Result<Approval, PolicyError> {
        let note = note.map(|n| n.trim().to_owned()).filter(|n| !n.is_empty());
        if note.as_ref().is_some_and(|n| n.chars().count() > MAX_NOTE_CHARS) {
            return Err(PolicyError::field(
                "note",
                format!("must be at most {MAX_NOTE_CHARS} characters"),
            ));
        }
        let mut tx = self.db.begin_write().await?;
        let lock = match self.db.backend() {
            Backend::Postgres => "FOR UPDATE",
            Backend::Sqlite => "",
        };
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {APPROVAL_COLUMNS} FROM approvals WHERE account_id = $1 AND id = $2 {lock}"
        )))
        .bind(account.as_str())
        .bind(approval_id.as_str())
        .fetch_optional(&mut *tx)
        .await?;
        let now = now_ms();
        let mut approval = approval_from_row(&row.ok_or(PolicyError::ApprovalNotFound)?, now)?;
        if approval.status != ApprovalStatus::Pending {
            tx.rollback().await?;
            return Err(match approval.status {
                ApprovalStatus::Approved => unprocessable(format!("approval {approval_id} is already approved")),
                ApprovalStatus::Denied => unprocessable(format!("approval {approval_id} is already denied")),
                _ => refusal(&approval),
            });
        }
        let status = if approve {
            ApprovalStatus::Approved
        } else {
            ApprovalStatus::Denied
        };
        // An approved request may be redeemed for as long again as it could wait to be decided.
        let expires_at_ms = if approve {
            now + self.approval_ttl_ms()
        } else {
            approval.expires_at_ms
        };
        sqlx::query(
            "UPDATE approvals SET status = $1, decided_at = $2, decided_by = $3, note = $4, expires_at = $5 \
             WHERE account_id = $6 AND id = $7",
        )
        .bind(status.as_str())
        .bind(now)
        .bind(actor.map(str::to_owned))
        .bind(note.clone())
        .bind(expires_at_ms)
        .bind(account.as_str())
        .bind(approval_id.as_str())
        .execute(&mut *tx)
        .await?;
        let mut envelope = if approve {
            let event = ApprovalApproved {
                approval_id: approval.id.to_string(),
                agent_id: approval.agent_id.to_string(),
                scope: approval.scope.clone(),
                note: note.clone(),
            };
            Envelope::new(EVENT_SOURCE, account.as_str(), actor, &event)
        } else {
            let event = ApprovalDenied {
                approval_id: approval.id.to_string(),
                agent_id: approval.agent_id.to_string(),
                scope: approval.scope.clone(),
                note: note.clone(),
            };
            Envelope::new(EVENT_SOURCE, account.as_str(), actor, &event)
        };
        envelope.decisionid = Some(approval.decision_id.to_string());
        self.outbox.enqueue(&mut tx, &envelope).await?;
        self.outbox.commit(tx).await?;
        approval.status = status;
        approval.decided_at_ms = Some(now);
        approval.decided_by = actor.map(str::to_owned);
        approval.note = note;
        approval.expires_at_ms = expires_at_ms;
        Ok(approval)
    }

    /// Redeems an approved approval for the request it held: exactly one caller wins (a conditional
    /// update), and only for the same agent, scopes (in any order) and target service, and the same
    /// ttl and intent when the redemption names them. The caller issues exactly what was approved
    /// (the returned approval's scope, target, ttl and intent), never more.
    pub(crate) async fn redeem(
        &self,
        account: &AccountId,
        approval_id: &ApprovalId,
        asked: Redemption<'_>,
    ) -> Result<Approval, PolicyError> {
        let mut approval = self.get_approval(account, approval_id).await?;
        let sorted = |scopes: &[String]| {
            let mut scopes = scopes.to_vec();
            scopes.sort();
            scopes.dedup();
            scopes
        };
        if approval.agent_id != *asked.agent_id
            || sorted(&approval.scope) != sorted(asked.scope)
            || approval.target_service != asked.target_service
        {
            return Err(unprocessable(format!(
                "approval {approval_id} is for another request: ask again with its agent_id, scope and target_service"
            )));
        }
        if asked.ttl.is_some_and(|ttl| ttl != approval.ttl) {
            return Err(unprocessable(format!(
                "approval {approval_id} was approved for a ttl of {} s: ask again with that ttl, or none",
                approval.ttl
            )));
        }
        if asked
            .intent
            .is_some_and(|intent| Some(intent) != approval.intent.as_deref())
        {
            return Err(unprocessable(format!(
                "approval {approval_id} was approved for another intent: ask again with the approved intent, or none"
            )));
        }
        if approval.status != ApprovalStatus::Approved || approval.redeemed_at_ms.is_some() {
            return Err(refusal(&approval));
        }
        let now = now_ms();
        let won = sqlx::query(
            "UPDATE approvals SET redeemed_at = $1 WHERE account_id = $2 AND id = $3 AND status = 'approved' \
             AND redeemed_at IS NULL AND expires_at > $1",
        )
        .bind(now)
        .bind(account.as_str())
        .bind(approval_id.as_str())
        .execute(self.db.pool())
        .await?
        .rows_affected()
            == 1;
        if !won {
            // Someone redeemed it meanwhile, or the window just closed: explain from the row as it is.
            return Err(refusal(&self.get_approval(account, approval_id).await?));
        }
        approval.redeemed_at_ms = Some(now);
        Ok(approval)
    }
}
