//! Services: the applications of an organization, addressed by organization and service slug
//! (with an account credential) or by id (with the service's own API key). Each holds its
//! redirect URIs and what its provider-token requests may ask for.

use latchkey_events::catalogue::{ServiceCreated, ServiceDeleted, ServiceKeyDeleted, ServiceUpdated, UserDeleted};
use latchkey_ids::{AccountId, OrganizationId, ServiceId};
use latchkey_storage::{
    is_unique_violation, now_ms,
    sqlx::{self, Any},
};

use crate::{Directory, DirectoryError, validate};

/// Where a service is: by slugs, as the management routes address it, or by id, as a service API
/// key knows its own. Either way only within the caller's account.
#[derive(Clone, Copy, Debug)]
pub enum ServiceAt<'a> {
    Slugs { organization: &'a str, service: &'a str },
    Id(&'a ServiceId),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Service {
    pub id: ServiceId,
    pub organization_id: OrganizationId,
    /// The organization's slug.
    pub organization: String,
    pub slug: String,
    pub name: String,
    pub service_type: String,
    pub description: String,
    pub redirect_uris: Vec<String>,
    /// Providers its provider-token requests may name; empty: every provider of the account.
    pub allowed_providers: Vec<String>,
    /// Scopes its provider-token requests may ask for; empty: any.
    pub scopes: Vec<String>,
    pub created_at_ms: i64,
    pub updated_at_ms: i64,
}

/// A service's settings as a request gives them: on create, what is absent takes its default
/// (`name` is required); on update, only what is present changes, and a list present replaces
/// the list.
#[derive(Clone, Debug, Default)]
pub struct ServiceFields {
    pub name: Option<String>,
    pub service_type: Option<String>,
    pub description: Option<String>,
    pub redirect_uris: Option<Vec<String>>,
    pub allowed_providers: Option<Vec<String>>,
    pub scopes: Option<Vec<String>>,
}

impl ServiceFields {
    /// Checks each present field and writes it onto `service`; answers the names of the fields that
    /// changed.
    fn apply_to(self, service: &mut Service) -> Result<Vec<String>, DirectoryError> {
        let mut changed = Vec::new();
        let mut note = |field: &str, differs: bool| {
            if differs {
                changed.push(field.to_owned());
            }
        };
        if let Some(name) = self.name {
            let name = validate::name("name", &name)?;
            note("name", name != service.name);
            service.name = name;
        }
        if let Some(service_type) = self.service_type {
            let service_type = validate::service_type(&service_type)?;
            note("service_type", service_type != service.service_type);
            service.service_type = service_type;
        }
        if let Some(description) = self.description {
            let description = validate::description(&description)?;
            note("description", description != service.description);
            service.description = description;
        }
        if let Some(uris) = self.redirect_uris {
            let uris = validate::redirect_uris(&uris)?;
            note("redirect_uris", uris != service.redirect_uris);
            service.redirect_uris = uris;
        }
        if let Some(providers) = self.allowed_providers {
            let providers = validate::providers(&providers)?;
            note("allowed_providers", providers != service.allowed_providers);
            service.allowed_providers = providers;
        }
        if let Some(scopes) = self.scopes {
            let scopes = validate::scopes("scopes", &scopes)?;
            note("scopes", scopes != service.scopes);
            service.scopes = scopes;
        }
        Ok(changed)
    }
}

type ServiceRow = (
    String,
    String,
    String,
    String,
    String,
    String,
    String,
    String,
    String,
    String,
    i64,
    i64,
);

const SELECT: &str = "SELECT s.id, s.organization_id, o.slug, s.slug, s.name, s.service_type, s.description, \
     s.redirect_uris, s.allowed_providers, s.scopes, s.created_at, s.updated_at \
     FROM directory_services s JOIN directory_organizations o ON o.id = s.organization_id";

fn list_of(json: &str) -> Result<Vec<String>, DirectoryError> {
    serde_json::from_str(json).map_err(|error| {
        tracing::error!(%error, "a stored list of a service does not parse");
        DirectoryError::Infra(latchkey_server::InfraError::Internal("a stored list does not parse"))
    })
}

fn json_of(list: &[String]) -> String {
    serde_json::to_string(list).unwrap_or_else(|_| "[]".to_owned())
}

fn service_of(row: ServiceRow) -> Result<Service, DirectoryError> {
    let (
        id,
        organization_id,
        organization,
        slug,
        name,
        service_type,
        description,
        uris,
        providers,
        scopes,
        created,
        updated,
    ) = row;
    Ok(Service {
        id: latchkey_server::stored_id(id)?,
        organization_id: latchkey_server::stored_id(organization_id)?,
        organization,
        slug,
        name,
        service_type,
        description,
        redirect_uris: list_of(&uris)?,
        allowed_providers: list_of(&providers)?,
        scopes: list_of(&scopes)?,
        created_at_ms: created,
        updated_at_ms: updated,
    })
}

/// The service at `at` in `account`, read with `executor` (the pool, or a transaction that goes on
/// to change it).
pub(crate) async fn locate<'e>(
    executor: impl sqlx::Executor<'e, Database = Any>,
    account: &AccountId,
    at: ServiceAt<'_>,
) -> Result<Service, DirectoryError> {
    let row: Option<ServiceRow> = match at {
        ServiceAt::Slugs { organization, service } => {
            sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "{SELECT} WHERE s.account_id = $1 AND o.account_id = $1 AND o.slug = $2 AND s.slug = $3"
            )))
            .bind(account.as_str())
            .bind(organization)
            .bind(service)
            .fetch_optional(executor)
            .await?
        }
        ServiceAt::Id(id) => {
            sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "{SELECT} WHERE s.account_id = $1 AND s.id = $2"
            )))
            .bind(account.as_str())
            .bind(id.as_str())
            .fetch_optional(executor)
            .await?
        }
    };
    row.map(service_of).transpose()?.ok_or(DirectoryError::ServiceNotFound)
}

impl Directory {
    pub async fn create_service(
        &self,
        account: &AccountId,
        actor: Option<&str>,
        organization: &str,
        slug: &str,
        fields: ServiceFields,
    ) -> Result<Service, DirectoryError> {
        validate::slug("slug", slug)?;
        if fields.name.is_none() {
            return Err(DirectoryError::field("name", "required"));
        }
        let now = now_ms();
        let mut service = Service {
            id: ServiceId::new(),
            organization_id: OrganizationId::new(),
            organization: organization.to_owned(),
            slug: slug.to_owned(),
            name: String::new(),
            service_type: "api".to_owned(),
            description: String::new(),
            redirect_uris: Vec::new(),
            allowed_providers: Vec::new(),
            scopes: Vec::new(),
            created_at_ms: now,
            updated_at_ms: now,
        };
        fields.apply_to(&mut service)?;
        let mut tx = self.db.begin_write().await?;
        let organization_id: Option<String> =
            sqlx::query_scalar("SELECT id FROM directory_organizations WHERE account_id = $1 AND slug = $2")
                .bind(account.as_str())
                .bind(organization)
                .fetch_optional(&mut *tx)
                .await?;
        service.organization_id =
            latchkey_server::stored_id(organization_id.ok_or(DirectoryError::OrganizationNotFound)?)?;
        let inserted = sqlx::query(
            "INSERT INTO directory_services (id, account_id, organization_id, slug, name, service_type, description, \
             redirect_uris, allowed_providers, scopes, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $11)",
        )
        .bind(service.id.as_str())
        .bind(account.as_str())
        .bind(service.organization_id.as_str())
        .bind(&service.slug)
        .bind(&service.name)
        .bind(&service.service_type)
        .bind(&service.description)
        .bind(json_of(&service.redirect_uris))
        .bind(json_of(&service.allowed_providers))
        .bind(json_of(&service.scopes))
        .bind(now)
        .execute(&mut *tx)
        .await;
        match inserted {
            Err(error) if is_unique_violation(&error) => {
                return Err(DirectoryError::field(
                    "slug",
                    "already taken by another service of the organization",
                ));
            }
            other => other?,
        };
        let event = ServiceCreated {
            service_id: service.id.to_string(),
            organization_id: service.organization_id.to_string(),
            slug: service.slug.clone(),
            name: service.name.clone(),
        };
        self.announce(&mut tx, account, actor, &event).await?;
        self.outbox.commit(tx).await?;
        Ok(service)
    }

    /// Every service of the organization, by slug.
    pub async fn list_services(&self, account: &AccountId, organization: &str) -> Result<Vec<Service>, DirectoryError> {
        // Distinguishes an organization without services from no organization at all.
        self.organization(account, organization).await?;
        let rows: Vec<ServiceRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "{SELECT} WHERE s.account_id = $1 AND o.account_id = $1 AND o.slug = $2 ORDER BY s.slug"
        )))
        .bind(account.as_str())
        .bind(organization)
        .fetch_all(self.db.pool())
        .await?;
        rows.into_iter().map(service_of).collect()
    }

    pub async fn service(&self, account: &AccountId, at: ServiceAt<'_>) -> Result<Service, DirectoryError> {
        locate(self.db.pool(), account, at).await
    }

    /// Changes what `fields` holds; an update that changes nothing writes nothing and emits nothing.
    pub async fn update_service(
        &self,
        account: &AccountId,
        actor: Option<&str>,
        at: ServiceAt<'_>,
        fields: ServiceFields,
    ) -> Result<Service, DirectoryError> {
        let mut tx = self.db.begin_write().await?;
        let mut service = locate(&mut *tx, account, at).await?;
        let changed = fields.apply_to(&mut service)?;
        if changed.is_empty() {
            return Ok(service);
        }
        service.updated_at_ms = now_ms();
        sqlx::query(
            "UPDATE directory_services SET name = $1, service_type = $2, description = $3, redirect_uris = $4, \
             allowed_providers = $5, scopes = $6, updated_at = $7 WHERE id = $8 AND account_id = $9",
        )
        .bind(&service.name)
        .bind(&service.service_type)
        .bind(&service.description)
        .bind(json_of(&service.redirect_uris))
        .bind(json_of(&service.allowed_providers))
        .bind(json_of(&service.scopes))
        .bind(service.updated_at_ms)
        .bind(service.id.as_str())
        .bind(account.as_str())
        .execute(&mut *tx)
        .await?;
        let event = ServiceUpdated {
            service_id: service.id.to_string(),
            organization_id: service.organization_id.to_string(),
            slug: service.slug.clone(),
            changed,
        };
        self.announce(&mut tx, account, actor, &event).await?;
        self.outbox.commit(tx).await?;
        Ok(service)
    }

    /// Deletes the service with its subscriptions, users and API keys, in one transaction: each key
    /// is announced deleted (`service_key.deleted`, which gateways drop from their caches), each user
    /// (`user.deleted`, on which the oauth service disconnects the user's connections), then the
    /// service (`service.deleted`, with how many users went with it).
    pub async fn delete_service(
        &self,
        account: &AccountId,
        actor: Option<&str>,
        at: ServiceAt<'_>,
    ) -> Result<(), DirectoryError> {
        let mut tx = self.db.begin_write().await?;
        let service = locate(&mut *tx, account, at).await?;
        let keys: Vec<(String, String)> = sqlx::query_as(
            "SELECT id, secret_hash FROM directory_service_keys WHERE service_id = $1 AND account_id = $2",
        )
        .bind(service.id.as_str())
        .bind(account.as_str())
        .fetch_all(&mut *tx)
        .await?;
        for table in ["directory_subscriptions", "directory_service_keys"] {
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "DELETE FROM {table} WHERE service_id = $1 AND account_id = $2"
            )))
            .bind(service.id.as_str())
            .bind(account.as_str())
            .execute(&mut *tx)
            .await?;
        }
        let users: Vec<String> =
            sqlx::query_scalar("DELETE FROM directory_users WHERE service_id = $1 AND account_id = $2 RETURNING id")
                .bind(service.id.as_str())
                .bind(account.as_str())
                .fetch_all(&mut *tx)
                .await?;
        sqlx::query("DELETE FROM directory_services WHERE id = $1 AND account_id = $2")
            .bind(service.id.as_str())
            .bind(account.as_str())
            .execute(&mut *tx)
            .await?;
        for (key_id, secret_hash) in keys {
            let event = ServiceKeyDeleted {
                key_id,
                service_id: service.id.to_string(),
                secret_hash,
            };
            self.announce(&mut tx, account, actor, &event).await?;
        }
        // Each user is announced gone, as a deletion of that user alone would: the oauth service
        // disconnects the users' provider connections on `user.deleted`.
        for user_id in &users {
            let event = UserDeleted {
                user_id: user_id.clone(),
                service_id: service.id.to_string(),
            };
            self.announce(&mut tx, account, actor, &event).await?;
        }
        let event = ServiceDeleted {
            service_id: service.id.to_string(),
            organization_id: service.organization_id.to_string(),
            slug: service.slug,
            users: u64::try_from(users.len()).unwrap_or(u64::MAX),
        };
        self.announce(&mut tx, account, actor, &event).await?;
        self.outbox.commit(tx).await?;
        Ok(())
    }
}
