//! Organizations: an account's containers of services, addressed by a slug unique in the account.

use latchkey_events::catalogue::{OrganizationCreated, OrganizationDeleted, OrganizationUpdated};
use latchkey_ids::{AccountId, OrganizationId};
use latchkey_storage::{is_unique_violation, now_ms, sqlx};

use crate::{Directory, DirectoryError, validate};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Organization {
    pub id: OrganizationId,
    pub slug: String,
    pub name: String,
    /// How many services it holds.
    pub services: u64,
    pub created_at_ms: i64,
    pub updated_at_ms: i64,
}

type OrganizationRow = (String, String, String, i64, i64, i64);

const SELECT: &str = "SELECT o.id, o.slug, o.name, o.created_at, o.updated_at, \
     (SELECT COUNT(*) FROM directory_services s WHERE s.organization_id = o.id) FROM directory_organizations o";

fn organization_of(row: OrganizationRow) -> Result<Organization, DirectoryError> {
    let (id, slug, name, created_at_ms, updated_at_ms, services) = row;
    Ok(Organization {
        id: latchkey_server::stored_id(id)?,
        slug,
        name,
        services: u64::try_from(services).unwrap_or(0),
        created_at_ms,
        updated_at_ms,
    })
}

impl Directory {
    pub async fn create_organization(
        &self,
        account: &AccountId,
        actor: Option<&str>,
        slug: &str,
        name: &str,
    ) -> Result<Organization, DirectoryError> {
        validate::slug("slug", slug)?;
        let name = validate::name("name", name)?;
        let now = now_ms();
        let organization = Organization {
            id: OrganizationId::new(),
            slug: slug.to_owned(),
            name,
            services: 0,
            created_at_ms: now,
            updated_at_ms: now,
        };
        let mut tx = self.db.begin_write().await?;
        let inserted = sqlx::query(
            "INSERT INTO directory_organizations (id, account_id, slug, name, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $5)",
        )
        .bind(organization.id.as_str())
        .bind(account.as_str())
        .bind(&organization.slug)
        .bind(&organization.name)
        .bind(now)
        .execute(&mut *tx)
        .await;
        match inserted {
            Err(error) if is_unique_violation(&error) => {
                return Err(DirectoryError::field(
                    "slug",
                    "already taken by another organization of the account",
                ));
            }
            other => other?,
        };
        let event = OrganizationCreated {
            organization_id: organization.id.to_string(),
            slug: organization.slug.clone(),
            name: organization.name.clone(),
        };
        self.announce(&mut tx, account, actor, &event).await?;
        self.outbox.commit(tx).await?;
        Ok(organization)
    }

    /// Every organization of the account, by slug.
    pub async fn list_organizations(&self, account: &AccountId) -> Result<Vec<Organization>, DirectoryError> {
        let rows: Vec<OrganizationRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "{SELECT} WHERE o.account_id = $1 ORDER BY o.slug"
        )))
        .bind(account.as_str())
        .fetch_all(self.db.pool())
        .await?;
        rows.into_iter().map(organization_of).collect()
    }

    pub async fn organization(&self, account: &AccountId, slug: &str) -> Result<Organization, DirectoryError> {
        let row: Option<OrganizationRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "{SELECT} WHERE o.account_id = $1 AND o.slug = $2"
        )))
        .bind(account.as_str())
        .bind(slug)
        .fetch_optional(self.db.pool())
        .await?;
        row.map(organization_of)
            .transpose()?
            .ok_or(DirectoryError::OrganizationNotFound)
    }

    /// Renames the organization (its slug is its address and does not change).
    pub async fn update_organization(
        &self,
        account: &AccountId,
        actor: Option<&str>,
        slug: &str,
        name: Option<&str>,
    ) -> Result<Organization, DirectoryError> {
        let Some(name) = name else {
            return self.organization(account, slug).await;
        };
        let name = validate::name("name", name)?;
        let mut tx = self.db.begin_write().await?;
        let id: Option<String> = sqlx::query_scalar(
            "UPDATE directory_organizations SET name = $1, updated_at = $2 WHERE account_id = $3 AND slug = $4 \
             RETURNING id",
        )
        .bind(&name)
        .bind(now_ms())
        .bind(account.as_str())
        .bind(slug)
        .fetch_optional(&mut *tx)
        .await?;
        let id = id.ok_or(DirectoryError::OrganizationNotFound)?;
        let event = OrganizationUpdated {
            organization_id: id,
            slug: slug.to_owned(),
            name,
        };
        self.announce(&mut tx, account, actor, &event).await?;
        self.outbox.commit(tx).await?;
        self.organization(account, slug).await
    }

    /// Deletes an organization that holds no services (delete those first: each takes its users
    /// and keys with it, which should not happen by accident).
    pub async fn delete_organization(
        &self,
        account: &AccountId,
        actor: Option<&str>,
        slug: &str,
    ) -> Result<(), DirectoryError> {
        let mut tx = self.db.begin_write().await?;
        let row: Option<(String, i64)> = sqlx::query_as(
            "SELECT o.id, (SELECT COUNT(*) FROM directory_services s WHERE s.organization_id = o.id) \
             FROM directory_organizations o WHERE o.account_id = $1 AND o.slug = $2",
        )
        .bind(account.as_str())
        .bind(slug)
        .fetch_optional(&mut *tx)
        .await?;
        let (id, services) = row.ok_or(DirectoryError::OrganizationNotFound)?;
        if services > 0 {
            return Err(DirectoryError::Unprocessable(format!(
                "the organization holds {services} service(s): delete them first"
            )));
        }
        sqlx::query("DELETE FROM directory_organizations WHERE id = $1 AND account_id = $2")
            .bind(&id)
            .bind(account.as_str())
            .execute(&mut *tx)
            .await?;
        let event = OrganizationDeleted {
            organization_id: id,
            slug: slug.to_owned(),
        };
        self.announce(&mut tx, account, actor, &event).await?;
        self.outbox.commit(tx).await?;
        Ok(())
    }
}
