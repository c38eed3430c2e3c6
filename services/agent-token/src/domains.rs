//! Verified domains: an account claims a domain and proves it controls the domain's DNS by
//! publishing a TXT record (`_latchkey-challenge.<domain>`) holding a value unique to the claim.
//! A verified domain vouches for agents whose owner is on it (`owner_verified`) and, through
//! [`AgentToken::check_hosts`], for the webhook endpoints on it. Verified domains are checked again
//! periodically and lapse when their record goes (see `rounds`). Every query names the account;
//! every status change commits with its event.

pub(crate) mod dns;
pub(crate) mod grpc;
mod name;
mod rounds;

use latchkey_errors::{ApiError, ErrorCode, FieldError};
use latchkey_events::{
    DomainEvent, Envelope,
    catalogue::{DomainCreated, DomainDeleted, DomainFailed, DomainVerified},
};
use latchkey_ids::{AccountId, DomainId};
use latchkey_server::stored_id;
use latchkey_storage::{is_unique_violation, now_ms, sqlx};

pub use dns::{CHALLENGE_LABEL, DomainsConfig, DomainsConfigError, Reason};
pub use grpc::DOMAIN_GRPC_SERVICE;
pub use name::normalize as normalize_domain;
pub use rounds::DomainRound;

pub(crate) use rounds::DomainChecks;

use crate::{AgentToken, AgentTokenError, EVENT_SOURCE};

/// The most domains one account may claim: each is a DNS lookup per re-check round.
pub const MAX_DOMAINS_PER_ACCOUNT: i64 = 100;
/// The most hosts one [`AgentToken::check_hosts`] call may ask about.
pub const MAX_HOSTS_PER_CHECK: usize = 1000;
/// What every challenge value starts with, so a zone's TXT records say what they are for.
const CHALLENGE_PREFIX: &str = "latchkey-domain-verification=";

/// Where a claim stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DomainStatus {
    /// Claimed, not (yet) verified.
    Pending,
    /// The last definitive check found the record.
    Verified,
    /// It lapsed (its record went away or changed) or expired unverified; a check that finds the
    /// record verifies it again.
    Failed,
}

impl DomainStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Verified => "verified",
            Self::Failed => "failed",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        [Self::Pending, Self::Verified, Self::Failed]
            .into_iter()
            .find(|status| status.as_str() == value)
    }
}

/// A claimed domain as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Domain {
    pub id: DomainId,
    /// Lowercase ASCII, no trailing dot.
    pub domain: String,
    pub status: DomainStatus,
    /// The value the TXT record must hold (public: it is published in DNS).
    pub challenge: String,
    /// Why the last check did not verify; `None` when it did or before the first check.
    pub reason: Option<Reason>,
    pub created_at_ms: i64,
    /// 0 unless verified.
    pub verified_at_ms: i64,
    /// 0 until the first check.
    pub last_checked_at_ms: i64,
}

impl Domain {
    /// Where the TXT record goes.
    pub fn txt_record_name(&self) -> String {
        format!("{CHALLENGE_LABEL}.{}", self.domain)
    }
}

type DomainRow = (String, String, String, String, String, i64, i64, i64);

const DOMAIN_COLUMNS: &str = "id, domain, status, challenge, reason, created_at, verified_at, last_checked_at";

fn domain_from_row(row: DomainRow) -> Result<Domain, AgentTokenError> {
    let (id, domain, status, challenge, reason, created, verified, checked) = row;
    Ok(Domain {
        id: stored_id(id)?,
        domain,
        // Only this module writes the column, always from `DomainStatus::as_str`.
        status: DomainStatus::parse(&status).unwrap_or(DomainStatus::Failed),
        challenge,
        reason: Reason::parse(&reason),
        created_at_ms: created,
        verified_at_ms: verified,
        last_checked_at_ms: checked,
    })
}

fn invalid_domain(message: &str) -> AgentTokenError {
    AgentTokenError::Invalid(ApiError::validation(vec![FieldError::new("domain", message)]))
}

fn unprocessable(message: &str) -> AgentTokenError {
    AgentTokenError::Invalid(ApiError {
        errors: vec![FieldError::new("domain", message)],
        ..ApiError::new(ErrorCode::Unprocessable, format!("domain: {message}"))
    })
}

fn envelope<E: DomainEvent>(account: &AccountId, actor: Option<&str>, event: &E) -> Envelope {
    Envelope::new(EVENT_SOURCE, account.as_str(), actor, event)
}

impl AgentToken {
    /// Claims `domain` for `account`: answers it pending, with the value its TXT record must hold.
    /// An account claims a name once (422 the second time); other accounts may claim it too, each
    /// with its own value, and each verifies by publishing its own record.
    pub async fn create_domain(
        &self,
        account: &AccountId,
        actor: Option<&str>,
        domain: &str,
    ) -> Result<Domain, AgentTokenError> {
        let name = name::normalize(domain).map_err(invalid_domain)?;
        let now = now_ms();
        let claim = Domain {
            id: DomainId::new(),
            domain: name,
            status: DomainStatus::Pending,
            challenge: crate::secrets::new_secret(CHALLENGE_PREFIX),
            reason: None,
            created_at_ms: now,
            verified_at_ms: 0,
            last_checked_at_ms: 0,
        };
        let mut tx = self.db.begin_write().await?;
        self.check_plan(
            &mut tx,
            account,
            latchkey_server::Limited::Domains,
            crate::plans::COUNT_DOMAINS,
        )
        .await?;
        let claimed: i64 = sqlx::query_scalar(crate::plans::COUNT_DOMAINS)
            .bind(account.as_str())
            .fetch_one(&mut *tx)
            .await?;
        if claimed >= MAX_DOMAINS_PER_ACCOUNT {
            return Err(unprocessable("the account has claimed 100 domains, the most it may"));
        }
        let inserted = sqlx::query(
            "INSERT INTO domains (id, account_id, domain, status, challenge, reason, created_at, updated_at, \
             verified_at, last_checked_at) VALUES ($1, $2, $3, $4, $5, '', $6, $6, 0, 0)",
        )
        .bind(claim.id.as_str())
        .bind(account.as_str())
        .bind(&claim.domain)
        .bind(claim.status.as_str())
        .bind(&claim.challenge)
        .bind(now)
        .execute(&mut *tx)
        .await;
        match inserted {
            Err(error) if is_unique_violation(&error) => {
                return Err(unprocessable("the account has already claimed this domain"));
            }
            inserted => inserted?,
        };
        let event = DomainCreated {
            domain_id: claim.id.to_string(),
            domain: claim.domain.clone(),
            txt_record_name: claim.txt_record_name(),
        };
        self.outbox.enqueue(&mut tx, &envelope(account, actor, &event)).await?;
        self.outbox.commit(tx).await?;
        Ok(claim)
    }

    /// The account's domains, oldest first, of one status or all.
    pub async fn list_domains(
        &self,
        account: &AccountId,
        status: Option<DomainStatus>,
    ) -> Result<Vec<Domain>, AgentTokenError> {
        let status = status.map(DomainStatus::as_str).unwrap_or_default();
        let rows: Vec<DomainRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {DOMAIN_COLUMNS} FROM domains WHERE account_id = $1 AND ($2 = '' OR status = $2) \
             ORDER BY created_at, id"
        )))
        .bind(account.as_str())
        .bind(status)
        .fetch_all(self.db.pool())
        .await?;
        rows.into_iter().map(domain_from_row).collect()
    }

    /// One of the account's domains; another account's is not found.
    pub async fn get_domain(&self, account: &AccountId, id: &DomainId) -> Result<Domain, AgentTokenError> {
        let row: Option<DomainRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {DOMAIN_COLUMNS} FROM domains WHERE account_id = $1 AND id = $2"
        )))
        .bind(account.as_str())
        .bind(id.as_str())
        .fetch_optional(self.db.pool())
        .await?;
        row.ok_or(AgentTokenError::DomainNotFound).and_then(domain_from_row)
    }

    /// Checks the domain's TXT record now and answers the domain as it then stands: verified when a
    /// record holds its value; otherwise with the reason. A pending domain stays pending, and a
    /// failed one failed; a verified one lapses to failed only when DNS answered that the record is
    /// gone or wrong (a DNS error or timeout keeps it verified).
    pub async fn verify_domain(
        &self,
        account: &AccountId,
        actor: Option<&str>,
        id: &DomainId,
    ) -> Result<Domain, AgentTokenError> {
        let domain = self.get_domain(account, id).await?;
        let outcome = self.domains.dns.check(&domain.domain, &domain.challenge).await;
        self.record_check(account, actor, &domain, outcome, now_ms()).await?;
        self.get_domain(account, id).await
    }

    /// Stores a check's outcome, and the status change with its event when there is one. Changes
    /// nothing when the domain changed meanwhile (deleted, or its status moved): the update is
    /// conditional on the status the check started from. Answers whether it was recorded.
    pub(crate) async fn record_check(
        &self,
        account: &AccountId,
        actor: Option<&str>,
        domain: &Domain,
        outcome: Result<(), Reason>,
        now: i64,
    ) -> Result<bool, AgentTokenError> {
        let (status, verified_at, reason) = match (domain.status, outcome) {
            (DomainStatus::Verified, Ok(())) => (DomainStatus::Verified, domain.verified_at_ms, None),
            (_, Ok(())) => (DomainStatus::Verified, now, None),
            (DomainStatus::Verified, Err(reason)) if reason.is_definitive() => (DomainStatus::Failed, 0, Some(reason)),
            (status, Err(reason)) => (status, domain.verified_at_ms, Some(reason)),
        };
        let mut tx = self.db.begin_write().await?;
        let updated = sqlx::query(
            "UPDATE domains SET status = $1, verified_at = $2, reason = $3, last_checked_at = $4, updated_at = $4 \
             WHERE account_id = $5 AND id = $6 AND status = $7",
        )
        .bind(status.as_str())
        .bind(verified_at)
        .bind(reason.map(Reason::as_str).unwrap_or_default())
        .bind(now)
        .bind(account.as_str())
        .bind(domain.id.as_str())
        .bind(domain.status.as_str())
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if updated == 0 {
            tx.rollback().await?;
            return Ok(false);
        }
        let domain_id = domain.id.to_string();
        let event = match (domain.status, status) {
            (before, DomainStatus::Verified) if before != DomainStatus::Verified => Some(envelope(
                account,
                actor,
                &DomainVerified {
                    domain_id,
                    domain: domain.domain.clone(),
                    verified_at_ms: verified_at,
                },
            )),
            (DomainStatus::Verified, DomainStatus::Failed) => Some(envelope(
                account,
                actor,
                &DomainFailed {
                    domain_id,
                    domain: domain.domain.clone(),
                    reason: reason.map(Reason::as_str).unwrap_or_default().to_owned(),
                    previous_status: DomainStatus::Verified.as_str().to_owned(),
                },
            )),
            _ => None,
        };
        match event {
            Some(event) => {
                self.outbox.enqueue(&mut tx, &event).await?;
                self.outbox.commit(tx).await?;
            }
            None => tx.commit().await?,
        }
        Ok(true)
    }

    /// Removes the account's claim on a domain; from then on it vouches for nothing.
    pub async fn delete_domain(
        &self,
        account: &AccountId,
        actor: Option<&str>,
        id: &DomainId,
    ) -> Result<(), AgentTokenError> {
        let mut tx = self.db.begin_write().await?;
        let row: Option<(String, String)> =
            sqlx::query_as("SELECT domain, status FROM domains WHERE account_id = $1 AND id = $2")
                .bind(account.as_str())
                .bind(id.as_str())
                .fetch_optional(&mut *tx)
                .await?;
        let Some((domain, status)) = row else {
            return Err(AgentTokenError::DomainNotFound);
        };
        sqlx::query("DELETE FROM domains WHERE account_id = $1 AND id = $2")
            .bind(account.as_str())
            .bind(id.as_str())
            .execute(&mut *tx)
            .await?;
        let event = DomainDeleted {
            domain_id: id.to_string(),
            domain,
            status,
        };
        self.outbox.enqueue(&mut tx, &envelope(account, actor, &event)).await?;
        self.outbox.commit(tx).await?;
        Ok(())
    }

    /// The account's verified domain names.
    pub(crate) async fn verified_domain_names(&self, account: &AccountId) -> Result<Vec<String>, AgentTokenError> {
        Ok(
            sqlx::query_scalar("SELECT domain FROM domains WHERE account_id = $1 AND status = 'verified'")
                .bind(account.as_str())
                .fetch_all(self.db.pool())
                .await?,
        )
    }

    /// For each host, whether it is one of the account's verified domains or a name under one.
    pub async fn check_hosts(&self, account: &AccountId, hosts: &[String]) -> Result<Vec<bool>, AgentTokenError> {
        if hosts.len() > MAX_HOSTS_PER_CHECK {
            return Err(AgentTokenError::Invalid(ApiError::validation(vec![FieldError::new(
                "hosts",
                "at most 1000 hosts per request",
            )])));
        }
        if hosts.is_empty() {
            return Ok(Vec::new());
        }
        let verified = self.verified_domain_names(account).await?;
        Ok(hosts
            .iter()
            .map(|host| verified.iter().any(|domain| name::covers(domain, host)))
            .collect())
    }

    /// Sets `owner_verified` on each agent whose owner is an email address or domain name on one
    /// of the account's verified domains (one query for them all).
    pub(crate) async fn flag_verified_owners(
        &self,
        account: &AccountId,
        agents: &mut [crate::Agent],
    ) -> Result<(), AgentTokenError> {
        let owners: Vec<Option<String>> = agents.iter().map(|agent| name::owner_domain(&agent.owner)).collect();
        if owners.iter().all(Option::is_none) {
            return Ok(());
        }
        let verified = self.verified_domain_names(account).await?;
        for (agent, owner) in agents.iter_mut().zip(owners) {
            agent.owner_verified =
                owner.is_some_and(|owner| verified.iter().any(|domain| name::covers(domain, &owner)));
        }
        Ok(())
    }
}
