//! Subscriptions: at most one per user of a service, `{user_id, plan_id, status}`. The user must
//! be the service's; a subscription is addressed by its user.

use latchkey_events::catalogue::{SubscriptionCanceled, SubscriptionCreated, SubscriptionUpdated};
use latchkey_ids::{AccountId, ServiceId, ServiceUserId};
use latchkey_storage::{
    is_unique_violation, now_ms,
    sqlx::{self, Any},
};

use crate::{Directory, DirectoryError, ServiceAt, users::Page, validate};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SubscriptionStatus {
    Active,
    Trialing,
    PastDue,
    Canceled,
}

impl SubscriptionStatus {
    pub const ALL: [Self; 4] = [Self::Active, Self::Trialing, Self::PastDue, Self::Canceled];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Trialing => "trialing",
            Self::PastDue => "past_due",
            Self::Canceled => "canceled",
        }
    }

    pub fn parse(text: &str) -> Result<Self, DirectoryError> {
        Self::ALL
            .into_iter()
            .find(|status| status.as_str() == text)
            .ok_or_else(|| DirectoryError::field("status", "one of active, trialing, past_due, canceled"))
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Subscription {
    pub user_id: ServiceUserId,
    pub plan_id: String,
    pub status: SubscriptionStatus,
    pub created_at_ms: i64,
    pub updated_at_ms: i64,
}

/// A change to a subscription: what is present changes.
#[derive(Clone, Debug, Default)]
pub struct SubscriptionChange {
    pub plan_id: Option<String>,
    pub status: Option<String>,
}

type SubscriptionRow = (String, String, String, i64, i64);

const SELECT: &str = "SELECT user_id, plan_id, status, created_at, updated_at FROM directory_subscriptions";

fn subscription_of(row: SubscriptionRow) -> Result<Subscription, DirectoryError> {
    let (user_id, plan_id, status, created_at_ms, updated_at_ms) = row;
    let status = SubscriptionStatus::parse(&status).map_err(|_| {
        tracing::error!(status = %status, "a stored subscription status is unknown");
        DirectoryError::Infra(latchkey_server::InfraError::Internal(
            "a stored subscription status is unknown",
        ))
    })?;
    Ok(Subscription {
        user_id: latchkey_server::stored_id(user_id)?,
        plan_id,
        status,
        created_at_ms,
        updated_at_ms,
    })
}

async fn find<'e>(
    executor: impl sqlx::Executor<'e, Database = Any>,
    account: &AccountId,
    service: &ServiceId,
    user: &ServiceUserId,
) -> Result<Subscription, DirectoryError> {
    let row: Option<SubscriptionRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "{SELECT} WHERE account_id = $1 AND service_id = $2 AND user_id = $3"
    )))
    .bind(account.as_str())
    .bind(service.as_str())
    .bind(user.as_str())
    .fetch_optional(executor)
    .await?;
    row.map(subscription_of)
        .transpose()?
        .ok_or(DirectoryError::SubscriptionNotFound)
}

impl Directory {
    /// Subscribes the service's user `user` to `plan_id` (status empty: `active`). A user of
    /// another service, or none, is `user_id`'s validation error, as is a second subscription.
    pub async fn create_subscription(
        &self,
        account: &AccountId,
        actor: Option<&str>,
        service: &ServiceId,
        user: &str,
        plan_id: &str,
        status: &str,
    ) -> Result<Subscription, DirectoryError> {
        let no_such_user = || DirectoryError::field("user_id", "no user of this service has this id");
        let user = ServiceUserId::try_from(user.to_owned()).map_err(|_| no_such_user())?;
        validate::plan_id(plan_id)?;
        let status = if status.is_empty() {
            SubscriptionStatus::Active
        } else {
            SubscriptionStatus::parse(status)?
        };
        let now = now_ms();
        let mut tx = self.db.begin_write().await?;
        match crate::users::find(&mut *tx, account, service, &user).await {
            Err(DirectoryError::UserNotFound) => return Err(no_such_user()),
            other => other?,
        };
        let inserted = sqlx::query(
            "INSERT INTO directory_subscriptions (service_id, user_id, account_id, plan_id, status, created_at, \
             updated_at) VALUES ($1, $2, $3, $4, $5, $6, $6)",
        )
        .bind(service.as_str())
        .bind(user.as_str())
        .bind(account.as_str())
        .bind(plan_id)
        .bind(status.as_str())
        .bind(now)
        .execute(&mut *tx)
        .await;
        match inserted {
            Err(error) if is_unique_violation(&error) => {
                return Err(DirectoryError::field(
                    "user_id",
                    "the user has a subscription already: change it with PATCH",
                ));
            }
            other => other?,
        };
        let event = SubscriptionCreated {
            user_id: user.to_string(),
            service_id: service.to_string(),
            plan_id: plan_id.to_owned(),
            status: status.as_str().to_owned(),
        };
        self.announce(&mut tx, account, actor, &event).await?;
        self.outbox.commit(tx).await?;
        Ok(Subscription {
            user_id: user,
            plan_id: plan_id.to_owned(),
            status,
            created_at_ms: now,
            updated_at_ms: now,
        })
    }

    /// A page of the service's subscriptions, oldest first, and how many it has.
    pub async fn list_subscriptions(
        &self,
        account: &AccountId,
        service: &ServiceId,
        limit: Option<u32>,
        offset: u64,
    ) -> Result<Page<Subscription>, DirectoryError> {
        let (limit, offset) = validate::page(limit, offset)?;
        self.service(account, ServiceAt::Id(service)).await?;
        let rows: Vec<SubscriptionRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "{SELECT} WHERE account_id = $1 AND service_id = $2 ORDER BY created_at, user_id LIMIT $3 OFFSET $4"
        )))
        .bind(account.as_str())
        .bind(service.as_str())
        .bind(limit)
        .bind(offset)
        .fetch_all(self.db.pool())
        .await?;
        let total: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM directory_subscriptions WHERE account_id = $1 AND service_id = $2",
        )
        .bind(account.as_str())
        .bind(service.as_str())
        .fetch_one(self.db.pool())
        .await?;
        Ok(Page {
            items: rows.into_iter().map(subscription_of).collect::<Result<_, _>>()?,
            total: u64::try_from(total).unwrap_or(0),
        })
    }

    pub async fn subscription(
        &self,
        account: &AccountId,
        service: &ServiceId,
        user: &ServiceUserId,
    ) -> Result<Subscription, DirectoryError> {
        find(self.db.pool(), account, service, user).await
    }

    /// Changes the plan or status. A change to `canceled` is announced as `subscription.canceled`,
    /// any other as `subscription.updated`; a change that changes nothing writes nothing.
    pub async fn update_subscription(
        &self,
        account: &AccountId,
        actor: Option<&str>,
        service: &ServiceId,
        user: &ServiceUserId,
        change: SubscriptionChange,
    ) -> Result<Subscription, DirectoryError> {
        if let Some(plan_id) = &change.plan_id {
            validate::plan_id(plan_id)?;
        }
        let status = change.status.as_deref().map(SubscriptionStatus::parse).transpose()?;
        let mut tx = self.db.begin_write().await?;
        let mut current = find(&mut *tx, account, service, user).await?;
        let previous = current.status;
        let plan_changed = change.plan_id.as_ref().is_some_and(|plan| *plan != current.plan_id);
        let status_changed = status.is_some_and(|status| status != previous);
        if !plan_changed && !status_changed {
            return Ok(current);
        }
        if let Some(plan_id) = change.plan_id {
            current.plan_id = plan_id;
        }
        if let Some(status) = status {
            current.status = status;
        }
        current.updated_at_ms = now_ms();
        sqlx::query(
            "UPDATE directory_subscriptions SET plan_id = $1, status = $2, updated_at = $3 \
             WHERE account_id = $4 AND service_id = $5 AND user_id = $6",
        )
        .bind(&current.plan_id)
        .bind(current.status.as_str())
        .bind(current.updated_at_ms)
        .bind(account.as_str())
        .bind(service.as_str())
        .bind(user.as_str())
        .execute(&mut *tx)
        .await?;
        if status_changed && current.status == SubscriptionStatus::Canceled {
            let event = SubscriptionCanceled {
                user_id: user.to_string(),
                service_id: service.to_string(),
                plan_id: current.plan_id.clone(),
                deleted: false,
            };
            self.announce(&mut tx, account, actor, &event).await?;
        } else {
            let event = SubscriptionUpdated {
                user_id: user.to_string(),
                service_id: service.to_string(),
                plan_id: current.plan_id.clone(),
                status: current.status.as_str().to_owned(),
                previous_status: previous.as_str().to_owned(),
            };
            self.announce(&mut tx, account, actor, &event).await?;
        }
        self.outbox.commit(tx).await?;
        Ok(current)
    }

    /// Removes the user's subscription (`subscription.canceled` with `deleted`).
    pub async fn delete_subscription(
        &self,
        account: &AccountId,
        actor: Option<&str>,
        service: &ServiceId,
        user: &ServiceUserId,
    ) -> Result<(), DirectoryError> {
        let mut tx = self.db.begin_write().await?;
        let plan_id: Option<String> = sqlx::query_scalar(
            "DELETE FROM directory_subscriptions WHERE account_id = $1 AND service_id = $2 AND user_id = $3 \
             RETURNING plan_id",
        )
        .bind(account.as_str())
        .bind(service.as_str())
        .bind(user.as_str())
        .fetch_optional(&mut *tx)
        .await?;
        let plan_id = plan_id.ok_or(DirectoryError::SubscriptionNotFound)?;
        let event = SubscriptionCanceled {
            user_id: user.to_string(),
            service_id: service.to_string(),
            plan_id,
            deleted: true,
        };
        self.announce(&mut tx, account, actor, &event).await?;
        self.outbox.commit(tx).await?;
        Ok(())
    }
}
