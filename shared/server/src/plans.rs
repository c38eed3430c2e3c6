//! Plans and their limits (docs/plans.md). A plan is a settings table (`[plans.<name>]`) of
//! limits; the account's plan name travels with each mesh call (`x-latchkey-plan`, set by the
//! gateway from the authenticated account), and each service enforces the limits on what it owns,
//! counted in its own database inside the transaction that would add one more, so the limit holds
//! across replicas.

use std::{collections::BTreeMap, sync::Arc};

use latchkey_errors::PlanLimitReached;
use latchkey_ids::AccountId;
use latchkey_storage::{
    Backend,
    sqlx::{Any, Transaction},
};
use serde::Deserialize;
use tonic::{Request, metadata::MetadataValue};

use crate::InfraError;

/// Metadata naming the plan of the account a mesh call acts for.
pub const PLAN_HEADER: &str = "x-latchkey-plan";

/// The plan every deployment ships with: nothing limited.
pub const SELF_HOSTED_PLAN: &str = "self-hosted";

/// What a plan can limit. An absent limit is no limit.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlanLimits {
    pub agents: Option<u64>,
    pub api_keys: Option<u64>,
    pub policies: Option<u64>,
    pub webhooks: Option<u64>,
    pub connections: Option<u64>,
    pub certificates: Option<u64>,
    pub domains: Option<u64>,
    pub tokens_per_month: Option<u64>,
    /// Users of all the account's services together (the directory's).
    pub service_users: Option<u64>,
}

/// One limited resource, named as in settings and in the `PLAN_LIMIT` problem.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Limited {
    Agents,
    ApiKeys,
    Policies,
    Webhooks,
    Connections,
    Certificates,
    Domains,
    TokensPerMonth,
    ServiceUsers,
}

impl Limited {
    pub const ALL: [Self; 9] = [
        Self::Agents,
        Self::ApiKeys,
        Self::Policies,
        Self::Webhooks,
        Self::Connections,
        Self::Certificates,
        Self::Domains,
        Self::TokensPerMonth,
        Self::ServiceUsers,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Self::Agents => "agents",
            Self::ApiKeys => "api_keys",
            Self::Policies => "policies",
            Self::Webhooks => "webhooks",
            Self::Connections => "connections",
            Self::Certificates => "certificates",
            Self::Domains => "domains",
            Self::TokensPerMonth => "tokens_per_month",
            Self::ServiceUsers => "service_users",
        }
    }
}

impl PlanLimits {
    pub fn of(&self, resource: Limited) -> Option<u64> {
        match resource {
            Limited::Agents => self.agents,
            Limited::ApiKeys => self.api_keys,
            Limited::Policies => self.policies,
            Limited::Webhooks => self.webhooks,
            Limited::Connections => self.connections,
            Limited::Certificates => self.certificates,
            Limited::Domains => self.domains,
            Limited::TokensPerMonth => self.tokens_per_month,
            Limited::ServiceUsers => self.service_users,
        }
    }

    /// True when this plan allows at least as much as `other` of everything, and more of something:
    /// moving from `other` to this one is an upgrade.
    pub fn is_upgrade_from(&self, other: &Self) -> bool {
        // `None` (unlimited) is more than any number.
        let rank = |limit: Option<u64>| limit.map_or(u128::MAX, u128::from);
        let pairs = Limited::ALL.map(|resource| (rank(self.of(resource)), rank(other.of(resource))));
        pairs.iter().all(|(new, old)| new >= old) && pairs.iter().any(|(new, old)| new > old)
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PlanError {
    #[error("accounts.default_plan names `{0}`, which no [plans.{0}] table defines")]
    UnknownDefault(String),
    #[error("plan name `{0}` must be 1 to 32 of a-z, 0-9, `-` and `_`")]
    BadName(String),
}

/// The deployment's plans and the one new accounts get. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Plans {
    default_plan: Arc<str>,
    plans: Arc<BTreeMap<String, PlanLimits>>,
}

impl Default for Plans {
    /// One unlimited `self-hosted` plan, the default: what a deployment has until it configures any.
    fn default() -> Self {
        Self {
            default_plan: SELF_HOSTED_PLAN.into(),
            plans: Arc::new(BTreeMap::from([(SELF_HOSTED_PLAN.to_owned(), PlanLimits::default())])),
        }
    }
}

impl Plans {
    pub fn new(default_plan: &str, plans: BTreeMap<String, PlanLimits>) -> Result<Self, PlanError> {
        if let Some(bad) = plans.keys().find(|name| !is_plan_name(name)) {
            return Err(PlanError::BadName(bad.clone()));
        }
        if !plans.contains_key(default_plan) {
            return Err(PlanError::UnknownDefault(default_plan.to_owned()));
        }
        Ok(Self {
            default_plan: default_plan.into(),
            plans: Arc::new(plans),
        })
    }

    pub fn default_plan(&self) -> &str {
        &self.default_plan
    }

    pub fn knows(&self, plan: &str) -> bool {
        self.plans.contains_key(plan)
    }

    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.plans.keys().map(String::as_str)
    }

    /// The plan an account is on: its own when the deployment still defines it, else the default
    /// (a plan removed from settings must not leave its accounts unlimited or locked out).
    pub fn resolve<'a>(&'a self, plan: Option<&'a str>) -> &'a str {
        match plan {
            Some(plan) if self.knows(plan) => plan,
            Some(plan) => {
                tracing::warn!(
                    plan,
                    "an account's plan is not in the settings; the default plan applies"
                );
                &self.default_plan
            }
            None => &self.default_plan,
        }
    }

    /// True when some plan limits `resource`: otherwise a service need not count it at all.
    pub fn limits_anywhere(&self, resource: Limited) -> bool {
        self.plans.values().any(|limits| limits.of(resource).is_some())
    }

    /// The limits of `plan` (resolved as [`resolve`](Self::resolve) does).
    pub fn limits(&self, plan: Option<&str>) -> &PlanLimits {
        let name = self.resolve(plan);
        self.plans.get(name).unwrap_or(&UNLIMITED)
    }

    /// Inside the transaction that would add one more `resource` to `account`: refuses it with
    /// `PLAN_LIMIT` when the account already has as many as `plan` allows. `count` reads the
    /// account's current usage in the same transaction. On PostgreSQL the check holds a transaction
    /// lock per (account, resource), so two replicas cannot both take the last one; SQLite's write
    /// transactions are one at a time already.
    pub async fn check(
        &self,
        tx: &mut Transaction<'static, Any>,
        backend: Backend,
        account: &AccountId,
        plan: Option<&str>,
        resource: Limited,
        count: &'static str,
    ) -> Result<(), InfraError> {
        let Some(limit) = self.limits(plan).of(resource) else {
            return Ok(());
        };
        if backend == Backend::Postgres {
            latchkey_storage::sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))")
                .bind(format!("plan:{}:{}", account.as_str(), resource.name()))
                .execute(&mut **tx)
                .await?;
        }
        let usage: i64 = latchkey_storage::sqlx::query_scalar(count)
            .bind(account.as_str())
            .fetch_one(&mut **tx)
            .await?;
        let usage = u64::try_from(usage).unwrap_or(0);
        if usage >= limit {
            return Err(InfraError::PlanLimit(Box::new(PlanLimitReached {
                plan: self.resolve(plan).to_owned(),
                resource: resource.name().to_owned(),
                limit,
                usage,
            })));
        }
        Ok(())
    }
}

/// How many `count` finds in `account` (the query binds the account as `$1`): a service's usage
/// of a limited resource, as `GET /v1/usage` reports it.
pub async fn usage(db: &latchkey_storage::Db, account: &AccountId, count: &'static str) -> Result<u64, InfraError> {
    let usage: i64 = latchkey_storage::sqlx::query_scalar(count)
        .bind(account.as_str())
        .fetch_one(db.pool())
        .await?;
    Ok(u64::try_from(usage).unwrap_or(0))
}

/// The answer to a service's `CountUsage` call: how many `count` finds in the caller's account.
/// `service` names the service for the log of a failure.
pub async fn count_for_caller<T>(
    mesh: &crate::MeshAuth,
    db: &latchkey_storage::Db,
    request: &Request<T>,
    count: &'static str,
    service: &'static str,
) -> Result<u64, tonic::Status> {
    let account = mesh.caller(request)?.account;
    usage(db, &account, count)
        .await
        .map_err(|error| error.to_api_error(service).into())
}

static UNLIMITED: PlanLimits = PlanLimits {
    agents: None,
    api_keys: None,
    policies: None,
    webhooks: None,
    connections: None,
    certificates: None,
    domains: None,
    tokens_per_month: None,
    service_users: None,
};

fn is_plan_name(name: &str) -> bool {
    (1..=32).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
}

/// The plan a mesh call names (set by the gateway for the authenticated account), if any.
pub fn plan_of<T>(request: &Request<T>) -> Option<String> {
    request
        .metadata()
        .get(PLAN_HEADER)
        .and_then(|v| v.to_str().ok())
        .filter(|plan| is_plan_name(plan))
        .map(str::to_owned)
}

/// Names `plan` as the plan of the account `request` acts for.
pub fn with_plan<T>(mut request: Request<T>, plan: &str) -> Request<T> {
    if let Ok(value) = MetadataValue::try_from(plan) {
        request.metadata_mut().insert(PLAN_HEADER, value);
    }
    request
}

#[cfg(test)]
mod tests;
