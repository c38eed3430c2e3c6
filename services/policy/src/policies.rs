//! Policies: created, listed, read and changed. Every query names the account, so one account can
//! never read or touch another's policies; every change commits together with its event.

use latchkey_errors::ApiError;
use latchkey_events::{
    Envelope,
    catalogue::{PolicyCreated, PolicyDeactivated, PolicyUpdated},
};
use latchkey_ids::{AccountId, PolicyId};
use latchkey_server::Limited;
use latchkey_storage::{Backend, now_ms, sqlx};

use crate::{
    EVENT_SOURCE, Policy, PolicyError,
    engine::{PolicyInput, PolicyPatch, ValidPolicy},
    error::stored_id,
    rules_json::{parse_rules, rules_to_json},
};

/// A policy as stored: its definition as the API shows it, with its id and times.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredPolicy {
    pub id: PolicyId,
    pub definition: PolicyInput,
    pub created_at_ms: i64,
    pub updated_at_ms: i64,
}

type PolicyRow = (String, String, Option<String>, i64, String, i64, i64, i64);

const POLICY_COLUMNS: &str = "id, name, description, priority, rules_json, is_active, created_at, updated_at";

/// The order policies are listed in: the order evaluation considers them.
const LISTING_ORDER: &str = "ORDER BY priority DESC, created_at, id";

fn policy_from_row(row: PolicyRow) -> Result<StoredPolicy, PolicyError> {
    let (id, name, description, priority, rules_json, is_active, created_at_ms, updated_at_ms) = row;
    let rules = parse_rules(&rules_json).map_err(|error| PolicyError::Corrupt {
        policy_id: id.clone(),
        reason: format!("{}: {}", error.field, error.message),
    })?;
    let id = stored_id(&id, &id)?;
    Ok(StoredPolicy {
        definition: PolicyInput {
            name,
            description,
            priority,
            rules,
            is_active: is_active != 0,
        },
        id,
        created_at_ms,
        updated_at_ms,
    })
}

/// Trims the name (so `" "` is empty, and names compare as people read them) and the description (a
/// blank one is none), then validates.
fn validated(mut input: PolicyInput) -> Result<ValidPolicy, PolicyError> {
    input.name = input.name.trim().to_owned();
    input.description = input
        .description
        .map(|text| text.trim().to_owned())
        .filter(|text| !text.is_empty());
    input
        .validate()
        .map_err(|errors| PolicyError::Invalid(ApiError::validation(errors)))
}

/// The fields `after` changes from `before`, by their API names.
fn changed_fields(before: &PolicyInput, after: &PolicyInput) -> Vec<String> {
    let mut changed = Vec::new();
    let mut note = |differs: bool, field: &str| {
        if differs {
            changed.push(field.to_owned());
        }
    };
    note(before.name != after.name, "name");
    note(before.description != after.description, "description");
    note(before.priority != after.priority, "priority");
    note(before.rules != after.rules, "rules");
    note(before.is_active != after.is_active, "is_active");
    changed
}

/// Every policy counts against a plan's `policies`, active or not.
pub(crate) const COUNT_POLICIES: &str = "SELECT COUNT(*) FROM policies WHERE account_id = $1";

impl Policy {
    /// Creates a policy in `account` on the deployment's default plan; see
    /// [`create_policy_on_plan`](Self::create_policy_on_plan).
    pub async fn create_policy(
        &self,
        account: &AccountId,
        actor: Option<&str>,
        input: PolicyInput,
    ) -> Result<StoredPolicy, PolicyError> {
        self.create_policy_on_plan(account, None, actor, input).await
    }

    /// Creates a policy in `account`, whose plan (`None`: the default) may limit how many it has
    /// (`PLAN_LIMIT`); validation errors name each field at fault.
    pub async fn create_policy_on_plan(
        &self,
        account: &AccountId,
        plan: Option<&str>,
        actor: Option<&str>,
        input: PolicyInput,
    ) -> Result<StoredPolicy, PolicyError> {
        let definition = validated(input)?.definition().clone();
        let now = now_ms();
        let policy = StoredPolicy {
            id: PolicyId::new(),
            definition,
            created_at_ms: now,
            updated_at_ms: now,
        };
        let d = &policy.definition;
        let mut tx = self.db.begin_write().await?;
        self.plans
            .check(
                &mut tx,
                self.db.backend(),
                account,
                plan,
                Limited::Policies,
                COUNT_POLICIES,
            )
            .await?;
        sqlx::query(
            "INSERT INTO policies (id, account_id, name, description, priority, rules_json, is_active, created_at, \
             updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(policy.id.as_str())
        .bind(account.as_str())
        .bind(&d.name)
        .bind(d.description.clone())
        .bind(d.priority)
        .bind(rules_to_json(&d.rules))
        .bind(i64::from(d.is_active))
        .bind(policy.created_at_ms)
        .bind(policy.updated_at_ms)
        .execute(&mut *tx)
        .await?;
        let event = PolicyCreated {
            policy_id: policy.id.to_string(),
            name: d.name.clone(),
            priority: d.priority,
            is_active: d.is_active,
            rule_count: d.rules.len(),
        };
        self.outbox
            .enqueue(&mut tx, &Envelope::new(EVENT_SOURCE, account.as_str(), actor, &event))
            .await?;
        self.outbox.commit(tx).await?;
        self.cache.invalidate(account.as_str());
        Ok(policy)
    }

    /// Every policy of the account, highest priority first (ties: oldest first).
    pub async fn list_policies(&self, account: &AccountId) -> Result<Vec<StoredPolicy>, PolicyError> {
        let rows: Vec<PolicyRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {POLICY_COLUMNS} FROM policies WHERE account_id = $1 {LISTING_ORDER}"
        )))
        .bind(account.as_str())
        .fetch_all(self.db.pool())
        .await?;
        rows.into_iter().map(policy_from_row).collect()
    }

    /// The account's active policies, as evaluation reads them.
    pub(crate) async fn active_policies(&self, account: &AccountId) -> Result<Vec<StoredPolicy>, PolicyError> {
        let rows: Vec<PolicyRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {POLICY_COLUMNS} FROM policies WHERE account_id = $1 AND is_active = 1 {LISTING_ORDER}"
        )))
        .bind(account.as_str())
        .fetch_all(self.db.pool())
        .await?;
        rows.into_iter().map(policy_from_row).collect()
    }

    /// One of the account's policies; another account's is not found, exactly like a missing one.
    pub async fn get_policy(&self, account: &AccountId, policy: &PolicyId) -> Result<StoredPolicy, PolicyError> {
        let row: Option<PolicyRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {POLICY_COLUMNS} FROM policies WHERE account_id = $1 AND id = $2"
        )))
        .bind(account.as_str())
        .bind(policy.as_str())
        .fetch_optional(self.db.pool())
        .await?;
        row.map(policy_from_row).ok_or(PolicyError::PolicyNotFound)?
    }

    /// Applies `patch` and validates the result like a new policy. A patch that changes nothing
    /// writes and emits nothing. Switching a policy off emits `policy.deactivated`; any other change
    /// (switching it back on included) emits `policy.updated` naming the changed fields.
    pub async fn update_policy(
        &self,
        account: &AccountId,
        actor: Option<&str>,
        policy: &PolicyId,
        patch: PolicyPatch,
    ) -> Result<StoredPolicy, PolicyError> {
        let mut tx = self.db.begin_write().await?;
        // The row is locked until commit, so concurrent patches each see the other's result and the
        // events name real changes. SQLite's write transaction (BEGIN IMMEDIATE) already serialises.
        let lock = match self.db.backend() {
            Backend::Postgres => "FOR UPDATE",
            Backend::Sqlite => "",
        };
        let row: Option<PolicyRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {POLICY_COLUMNS} FROM policies WHERE account_id = $1 AND id = $2 {lock}"
        )))
        .bind(account.as_str())
        .bind(policy.as_str())
        .fetch_optional(&mut *tx)
        .await?;
        let current = row.map(policy_from_row).ok_or(PolicyError::PolicyNotFound)??;
        let after = validated(patch.apply(current.definition.clone()))?.definition().clone();
        let changed = changed_fields(&current.definition, &after);
        if changed.is_empty() {
            tx.rollback().await?;
            return Ok(current);
        }
        let now = now_ms();
        sqlx::query(
            "UPDATE policies SET name = $1, description = $2, priority = $3, rules_json = $4, is_active = $5, \
             updated_at = $6 WHERE account_id = $7 AND id = $8",
        )
        .bind(&after.name)
        .bind(after.description.clone())
        .bind(after.priority)
        .bind(rules_to_json(&after.rules))
        .bind(i64::from(after.is_active))
        .bind(now)
        .bind(account.as_str())
        .bind(policy.as_str())
        .execute(&mut *tx)
        .await?;
        let deactivated = current.definition.is_active && !after.is_active;
        let others: Vec<String> = changed
            .into_iter()
            .filter(|field| field != "is_active" || !deactivated)
            .collect();
        if deactivated {
            let event = PolicyDeactivated {
                policy_id: policy.to_string(),
                name: after.name.clone(),
                priority: after.priority,
            };
            self.outbox
                .enqueue(&mut tx, &Envelope::new(EVENT_SOURCE, account.as_str(), actor, &event))
                .await?;
        }
        if !others.is_empty() {
            let event = PolicyUpdated {
                policy_id: policy.to_string(),
                name: after.name.clone(),
                priority: after.priority,
                is_active: after.is_active,
                changed: others,
            };
            self.outbox
                .enqueue(&mut tx, &Envelope::new(EVENT_SOURCE, account.as_str(), actor, &event))
                .await?;
        }
        self.outbox.commit(tx).await?;
        self.cache.invalidate(account.as_str());
        Ok(StoredPolicy {
            id: current.id,
            definition: after,
            created_at_ms: current.created_at_ms,
            updated_at_ms: now,
        })
    }
}
