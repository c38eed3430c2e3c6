//! A service's users: an email unique in the service (ignoring case) and an optional name. Every
//! query names the account and the service, so a user of another service is as unknown as one
//! that never existed. Creating one counts against the plan's `service_users`.

use latchkey_events::catalogue::{UserCreated, UserDeleted, UserUpdated};
use latchkey_ids::{AccountId, ServiceId, ServiceUserId};
use latchkey_server::Limited;
use latchkey_storage::{
    is_unique_violation, now_ms,
    sqlx::{self, Any},
};

use crate::{Directory, DirectoryError, ServiceAt, services::locate, validate};

/// Counts the account's service users for its plan: every service's together.
pub(crate) const COUNT_USERS: &str = "SELECT COUNT(*) FROM directory_users WHERE account_id = $1";

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct User {
    pub id: ServiceUserId,
    pub email: String,
    pub name: String,
    pub created_at_ms: i64,
    pub updated_at_ms: i64,
}

/// A change to a user: what is present changes.
#[derive(Clone, Debug, Default)]
pub struct UserChange {
    pub email: Option<String>,
    pub name: Option<String>,
}

/// One page of a list and how many there are in all.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub total: u64,
}

type UserRow = (String, String, String, i64, i64);

const SELECT: &str = "SELECT id, email, name, created_at, updated_at FROM directory_users";

fn user_of(row: UserRow) -> Result<User, DirectoryError> {
    let (id, email, name, created_at_ms, updated_at_ms) = row;
    Ok(User {
        id: latchkey_server::stored_id(id)?,
        email,
        name,
        created_at_ms,
        updated_at_ms,
    })
}

fn email_taken() -> DirectoryError {
    DirectoryError::field("email", "already the email of another user of this service")
}

/// The user `user` of `service`, read with `executor`.
pub(crate) async fn find<'e>(
    executor: impl sqlx::Executor<'e, Database = Any>,
    account: &AccountId,
    service: &ServiceId,
    user: &ServiceUserId,
) -> Result<User, DirectoryError> {
    let row: Option<UserRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "{SELECT} WHERE account_id = $1 AND service_id = $2 AND id = $3"
    )))
    .bind(account.as_str())
    .bind(service.as_str())
    .bind(user.as_str())
    .fetch_optional(executor)
    .await?;
    row.map(user_of).transpose()?.ok_or(DirectoryError::UserNotFound)
}

impl Directory {
    /// Adds a user to `service`; the account's plan (`None`: the default) may limit how many users
    /// its services hold together (`PLAN_LIMIT`).
    pub async fn create_user(
        &self,
        account: &AccountId,
        plan: Option<&str>,
        actor: Option<&str>,
        service: &ServiceId,
        email: &str,
        name: &str,
    ) -> Result<User, DirectoryError> {
        let email = validate::email(email)?;
        let name = validate::optional_name("name", name)?;
        let now = now_ms();
        let user = User {
            id: ServiceUserId::new(),
            email,
            name,
            created_at_ms: now,
            updated_at_ms: now,
        };
        let mut tx = self.db.begin_write().await?;
        locate(&mut *tx, account, ServiceAt::Id(service)).await?;
        self.plans
            .check(
                &mut tx,
                self.db.backend(),
                account,
                plan,
                Limited::ServiceUsers,
                COUNT_USERS,
            )
            .await?;
        let inserted = sqlx::query(
            "INSERT INTO directory_users (id, account_id, service_id, email, email_key, name, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $7)",
        )
        .bind(user.id.as_str())
        .bind(account.as_str())
        .bind(service.as_str())
        .bind(&user.email)
        .bind(validate::email_key(&user.email))
        .bind(&user.name)
        .bind(now)
        .execute(&mut *tx)
        .await;
        match inserted {
            Err(error) if is_unique_violation(&error) => return Err(email_taken()),
            other => other?,
        };
        let event = UserCreated {
            user_id: user.id.to_string(),
            service_id: service.to_string(),
        };
        self.announce(&mut tx, account, actor, &event).await?;
        self.outbox.commit(tx).await?;
        Ok(user)
    }

    /// A page of the service's users, oldest first, and how many it has.
    pub async fn list_users(
        &self,
        account: &AccountId,
        service: &ServiceId,
        limit: Option<u32>,
        offset: u64,
    ) -> Result<Page<User>, DirectoryError> {
        let (limit, offset) = validate::page(limit, offset)?;
        self.service(account, ServiceAt::Id(service)).await?;
        let rows: Vec<UserRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "{SELECT} WHERE account_id = $1 AND service_id = $2 ORDER BY created_at, id LIMIT $3 OFFSET $4"
        )))
        .bind(account.as_str())
        .bind(service.as_str())
        .bind(limit)
        .bind(offset)
        .fetch_all(self.db.pool())
        .await?;
        let total: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM directory_users WHERE account_id = $1 AND service_id = $2")
                .bind(account.as_str())
                .bind(service.as_str())
                .fetch_one(self.db.pool())
                .await?;
        Ok(Page {
            items: rows.into_iter().map(user_of).collect::<Result<_, _>>()?,
            total: u64::try_from(total).unwrap_or(0),
        })
    }

    pub async fn user(
        &self,
        account: &AccountId,
        service: &ServiceId,
        user: &ServiceUserId,
    ) -> Result<User, DirectoryError> {
        find(self.db.pool(), account, service, user).await
    }

    /// Changes the user's email or name; a change that changes nothing writes nothing.
    pub async fn update_user(
        &self,
        account: &AccountId,
        actor: Option<&str>,
        service: &ServiceId,
        user: &ServiceUserId,
        change: UserChange,
    ) -> Result<User, DirectoryError> {
        let email = change.email.as_deref().map(validate::email).transpose()?;
        let name = change
            .name
            .as_deref()
            .map(|name| validate::optional_name("name", name))
            .transpose()?;
        let mut tx = self.db.begin_write().await?;
        let mut current = find(&mut *tx, account, service, user).await?;
        let mut changed = Vec::new();
        if let Some(email) = email
            && email != current.email
        {
            current.email = email;
            changed.push("email".to_owned());
        }
        if let Some(name) = name
            && name != current.name
        {
            current.name = name;
            changed.push("name".to_owned());
        }
        if changed.is_empty() {
            return Ok(current);
        }
        current.updated_at_ms = now_ms();
        let updated = sqlx::query(
            "UPDATE directory_users SET email = $1, email_key = $2, name = $3, updated_at = $4 \
             WHERE id = $5 AND service_id = $6 AND account_id = $7",
        )
        .bind(&current.email)
        .bind(validate::email_key(&current.email))
        .bind(&current.name)
        .bind(current.updated_at_ms)
        .bind(user.as_str())
        .bind(service.as_str())
        .bind(account.as_str())
        .execute(&mut *tx)
        .await;
        match updated {
            Err(error) if is_unique_violation(&error) => return Err(email_taken()),
            other => other?,
        };
        let event = UserUpdated {
            user_id: user.to_string(),
            service_id: service.to_string(),
            changed,
        };
        self.announce(&mut tx, account, actor, &event).await?;
        self.outbox.commit(tx).await?;
        Ok(current)
    }

    /// Removes the user and its subscription.
    pub async fn delete_user(
        &self,
        account: &AccountId,
        actor: Option<&str>,
        service: &ServiceId,
        user: &ServiceUserId,
    ) -> Result<(), DirectoryError> {
        let mut tx = self.db.begin_write().await?;
        sqlx::query("DELETE FROM directory_subscriptions WHERE user_id = $1 AND service_id = $2 AND account_id = $3")
            .bind(user.as_str())
            .bind(service.as_str())
            .bind(account.as_str())
            .execute(&mut *tx)
            .await?;
        let deleted = sqlx::query("DELETE FROM directory_users WHERE id = $1 AND service_id = $2 AND account_id = $3")
            .bind(user.as_str())
            .bind(service.as_str())
            .bind(account.as_str())
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if deleted == 0 {
            return Err(DirectoryError::UserNotFound);
        }
        let event = UserDeleted {
            user_id: user.to_string(),
            service_id: service.to_string(),
        };
        self.announce(&mut tx, account, actor, &event).await?;
        self.outbox.commit(tx).await?;
        Ok(())
    }

    /// How many users the account's services hold together.
    pub async fn count_users(&self, account: &AccountId) -> Result<u64, DirectoryError> {
        Ok(latchkey_server::plans::usage(&self.db, account, COUNT_USERS).await?)
    }
}
