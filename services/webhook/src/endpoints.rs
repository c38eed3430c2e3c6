//! Endpoints: registered, listed, read, removed, and their secrets rotated. Every query names the
//! account, so one account can never read or touch another's endpoints; every change commits
//! together with its event.

use latchkey_egress::{self as guard, AddressPolicy, Refusal};
use latchkey_events::{
    Envelope,
    catalogue::{EndpointCreated, EndpointDeleted, EndpointEnabled, EndpointSecretRotated},
};
use latchkey_ids::{AccountId, EndpointId};
use latchkey_server::{Limited, stored_id};
use latchkey_storage::{now_ms, sqlx};

use crate::{EVENT_SOURCE, Webhook, WebhookError, patterns, secrets::SecretDoc, signing};

/// The longest URL accepted.
const MAX_URL_LEN: usize = 2048;
/// The longest description accepted, in characters.
const MAX_DESCRIPTION_LEN: usize = 500;
/// The longest overlap a rotation may ask for: 30 days.
const MAX_OVERLAP_SECS: i64 = 30 * 24 * 60 * 60;

/// What a client registers.
#[derive(Clone, Debug, Default)]
pub struct EndpointInput {
    pub url: String,
    pub events: Vec<String>,
    pub description: Option<String>,
}

/// An endpoint as the API shows it: never its secret.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Endpoint {
    pub id: EndpointId,
    pub url: String,
    pub events: Vec<String>,
    pub description: Option<String>,
    /// active or disabled.
    pub status: String,
    /// gone or failing; empty while active.
    pub disabled_reason: String,
    pub created_at_ms: i64,
    pub updated_at_ms: i64,
    /// When the previous secret stops signing; 0 when there is none.
    pub previous_secret_expires_at_ms: i64,
    /// Since when every delivery has failed; 0 while healthy.
    pub failing_since_ms: i64,
}

/// An endpoint with its signing secret, shown once: at creation and at each rotation.
#[derive(Clone)]
pub struct CreatedEndpoint {
    pub endpoint: Endpoint,
    pub secret: String,
}

impl std::fmt::Debug for CreatedEndpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CreatedEndpoint")
            .field("endpoint", &self.endpoint)
            .field("secret", &"<redacted>")
            .finish()
    }
}

type EndpointRow = (
    String,
    String,
    String,
    Option<String>,
    String,
    String,
    i64,
    i64,
    i64,
    i64,
);

const COLUMNS: &str = "id, url, events_json, description, status, disabled_reason, created_at, updated_at, \
                       previous_expires_at, failing_since";

fn endpoint_from_row(row: EndpointRow) -> Result<Endpoint, WebhookError> {
    let (id, url, events_json, description, status, disabled_reason, created_at_ms, updated_at_ms, previous, failing) =
        row;
    Ok(Endpoint {
        id: stored_id(id)?,
        url,
        events: serde_json::from_str(&events_json).unwrap_or_default(),
        description,
        status,
        disabled_reason,
        created_at_ms,
        updated_at_ms,
        // A rotated-out secret that no longer signs is not worth showing.
        previous_secret_expires_at_ms: if previous > now_ms() { previous } else { 0 },
        failing_since_ms: failing,
    })
}

/// An absolute http(s) URL without credentials; a literal address must pass the address policy.
fn validated_url(url: &str, policy: AddressPolicy) -> Result<String, WebhookError> {
    let url = url.trim();
    if url.is_empty() {
        return Err(WebhookError::field("url", "required"));
    }
    if url.len() > MAX_URL_LEN {
        return Err(WebhookError::field("url", format!("at most {MAX_URL_LEN} characters")));
    }
    let parsed = reqwest::Url::parse(url).map_err(|error| WebhookError::field("url", format!("not a URL: {error}")))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(WebhookError::field("url", "must be http or https"));
    }
    if parsed.host_str().is_none_or(str::is_empty) {
        return Err(WebhookError::field("url", "must name a host"));
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(WebhookError::field("url", "must not carry credentials"));
    }
    if let Err(refusal) = guard::check_literal_host(policy, &parsed) {
        let what = match refusal {
            Refusal::Loopback => "a loopback address",
            Refusal::Private => "a private, link-local or metadata address",
            Refusal::Unroutable => "an address no webhook receiver can have",
        };
        return Err(WebhookError::field("url", format!("{what} is not allowed")));
    }
    Ok(parsed.to_string())
}

fn validated_description(description: Option<String>) -> Result<Option<String>, WebhookError> {
    let description = description
        .map(|text| text.trim().to_owned())
        .filter(|text| !text.is_empty());
    if description
        .as_ref()
        .is_some_and(|text| text.chars().count() > MAX_DESCRIPTION_LEN)
    {
        return Err(WebhookError::field(
            "description",
            format!("at most {MAX_DESCRIPTION_LEN} characters"),
        ));
    }
    Ok(description)
}

/// Every endpoint counts against a plan's `webhooks`, disabled or not.
pub(crate) const COUNT_ENDPOINTS: &str = "SELECT COUNT(*) FROM webhook_endpoints WHERE account_id = $1";

impl Webhook {
    fn address_policy(&self) -> AddressPolicy {
        self.config.address_policy()
    }

    /// Registers an endpoint in `account_id` on the deployment's default plan; see
    /// [`create_endpoint_on_plan`](Self::create_endpoint_on_plan).
    pub async fn create_endpoint(
        &self,
        account_id: &AccountId,
        actor: Option<&str>,
        input: EndpointInput,
    ) -> Result<CreatedEndpoint, WebhookError> {
        self.create_endpoint_on_plan(account_id, None, actor, input).await
    }

    /// Registers an endpoint in `account_id`, whose plan (`None`: the default) may limit how many
    /// it has (`PLAN_LIMIT`); validation errors name each field at fault.
    pub async fn create_endpoint_on_plan(
        &self,
        account_id: &AccountId,
        plan: Option<&str>,
        actor: Option<&str>,
        input: EndpointInput,
    ) -> Result<CreatedEndpoint, WebhookError> {
        let url = validated_url(&input.url, self.address_policy())?;
        let events = patterns::validate(&input.events)?;
        let description = validated_description(input.description)?;
        let now = now_ms();
        let endpoint = Endpoint {
            id: EndpointId::new(),
            url,
            events,
            description,
            status: "active".to_owned(),
            disabled_reason: String::new(),
            created_at_ms: now,
            updated_at_ms: now,
            previous_secret_expires_at_ms: 0,
            failing_since_ms: 0,
        };
        let secret = signing::new_secret();
        // Sealed before the row exists (and outside its transaction: the vault may share the
        // database, and SQLite has one writer); an orphan left by a failed insert signs nothing.
        let (stored_secret, secret_version) = if self.secrets.sealed() {
            let doc = SecretDoc {
                current: secret.clone(),
                previous: None,
            };
            let version = self
                .secrets
                .seal(account_id.as_str(), endpoint.id.as_str(), &doc, 0)
                .await?;
            (String::new(), i64::try_from(version).unwrap_or(i64::MAX))
        } else {
            (secret.clone(), 0)
        };
        let inserted = self
            .insert_endpoint(account_id, plan, actor, &endpoint, &stored_secret, secret_version)
            .await;
        if inserted.is_err() && secret_version > 0 {
            self.secrets.forget(account_id.as_str(), endpoint.id.as_str()).await;
        }
        inserted?;
        Ok(CreatedEndpoint { endpoint, secret })
    }

    async fn insert_endpoint(
        &self,
        account_id: &AccountId,
        plan: Option<&str>,
        actor: Option<&str>,
        endpoint: &Endpoint,
        stored_secret: &str,
        secret_version: i64,
    ) -> Result<(), WebhookError> {
        let now = endpoint.created_at_ms;
        let mut tx = self.db.begin_write().await?;
        self.plans
            .check(
                &mut tx,
                self.db.backend(),
                account_id,
                plan,
                Limited::Webhooks,
                COUNT_ENDPOINTS,
            )
            .await?;
        sqlx::query(
            "INSERT INTO webhook_endpoints (id, account_id, url, events_json, description, secret, previous_secret, \
             previous_expires_at, status, disabled_reason, failing_since, failing_announced, created_at, updated_at, \
             secret_version) VALUES ($1, $2, $3, $4, $5, $6, NULL, 0, 'active', '', 0, 0, $7, $8, $9)",
        )
        .bind(endpoint.id.as_str())
        .bind(account_id.as_str())
        .bind(&endpoint.url)
        .bind(serde_json::to_string(&endpoint.events).unwrap_or_default())
        .bind(endpoint.description.clone())
        .bind(stored_secret)
        .bind(now)
        .bind(now)
        .bind(secret_version)
        .execute(&mut *tx)
        .await?;
        let event = EndpointCreated {
            endpoint_id: endpoint.id.to_string(),
            url: endpoint.url.clone(),
            events: endpoint.events.clone(),
        };
        self.outbox
            .enqueue(
                &mut tx,
                &Envelope::new(EVENT_SOURCE, account_id.as_str(), actor, &event),
            )
            .await?;
        self.outbox.commit(tx).await?;
        Ok(())
    }

    /// Every endpoint of the account, oldest first (ids are random: the id only breaks ties).
    pub async fn list_endpoints(&self, account_id: &AccountId) -> Result<Vec<Endpoint>, WebhookError> {
        let rows: Vec<EndpointRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM webhook_endpoints WHERE account_id = $1 ORDER BY created_at, id"
        )))
        .bind(account_id.as_str())
        .fetch_all(self.db.pool())
        .await?;
        rows.into_iter().map(endpoint_from_row).collect()
    }

    /// One of the account's endpoints; another account's is not found, exactly like a missing one.
    pub async fn get_endpoint(
        &self,
        account_id: &AccountId,
        endpoint_id: &EndpointId,
    ) -> Result<Endpoint, WebhookError> {
        let row: Option<EndpointRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM webhook_endpoints WHERE account_id = $1 AND id = $2"
        )))
        .bind(account_id.as_str())
        .bind(endpoint_id.as_str())
        .fetch_optional(self.db.pool())
        .await?;
        row.map(endpoint_from_row).ok_or(WebhookError::EndpointNotFound)?
    }

    /// Removes the endpoint, its waiting messages and its attempts.
    pub async fn delete_endpoint(
        &self,
        account_id: &AccountId,
        actor: Option<&str>,
        endpoint_id: &EndpointId,
    ) -> Result<(), WebhookError> {
        let mut tx = self.db.begin_write().await?;
        let found: Option<(String, i64)> =
            sqlx::query_as("SELECT url, secret_version FROM webhook_endpoints WHERE account_id = $1 AND id = $2")
                .bind(account_id.as_str())
                .bind(endpoint_id.as_str())
                .fetch_optional(&mut *tx)
                .await?;
        let (url, secret_version) = found.ok_or(WebhookError::EndpointNotFound)?;
        for table in ["webhook_attempts", "webhook_messages", "webhook_endpoints"] {
            let column = if table == "webhook_endpoints" {
                "id"
            } else {
                "endpoint_id"
            };
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "DELETE FROM {table} WHERE account_id = $1 AND {column} = $2"
            )))
            .bind(account_id.as_str())
            .bind(endpoint_id.as_str())
            .execute(&mut *tx)
            .await?;
        }
        let event = EndpointDeleted {
            endpoint_id: endpoint_id.to_string(),
            url,
        };
        self.outbox
            .enqueue(
                &mut tx,
                &Envelope::new(EVENT_SOURCE, account_id.as_str(), actor, &event),
            )
            .await?;
        self.outbox.commit(tx).await?;
        if secret_version > 0 {
            self.secrets.forget(account_id.as_str(), endpoint_id.as_str()).await;
        }
        Ok(())
    }

    /// Makes a disabled endpoint active again: its failure tracking starts over, and
    /// `endpoint.enabled` records who did it and why it had been disabled. Enabling an active
    /// endpoint changes nothing and emits nothing. Messages that failed while it was disabled stay
    /// failed: retry or replay them to send them again.
    pub async fn enable_endpoint(
        &self,
        account_id: &AccountId,
        actor: Option<&str>,
        endpoint_id: &EndpointId,
    ) -> Result<Endpoint, WebhookError> {
        let mut tx = self.db.begin_write().await?;
        let found: Option<(String, String)> = sqlx::query_as(
            "SELECT url, disabled_reason FROM webhook_endpoints WHERE account_id = $1 AND id = $2 AND status = 'disabled'",
        )
        .bind(account_id.as_str())
        .bind(endpoint_id.as_str())
        .fetch_optional(&mut *tx)
        .await?;
        let Some((url, previous_reason)) = found else {
            // Active already, or not the account's: nothing to write either way.
            drop(tx);
            return self.get_endpoint(account_id, endpoint_id).await;
        };
        // Only the request that flips the status announces it, should two race.
        let flipped = sqlx::query(
            "UPDATE webhook_endpoints SET status = 'active', disabled_reason = '', failing_since = 0, \
             failing_announced = 0, updated_at = $1 WHERE account_id = $2 AND id = $3 AND status = 'disabled'",
        )
        .bind(now_ms())
        .bind(account_id.as_str())
        .bind(endpoint_id.as_str())
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if flipped == 1 {
            let event = EndpointEnabled {
                endpoint_id: endpoint_id.to_string(),
                url,
                previous_reason,
            };
            self.outbox
                .enqueue(
                    &mut tx,
                    &Envelope::new(EVENT_SOURCE, account_id.as_str(), actor, &event),
                )
                .await?;
            tracing::info!(endpoint_id = %endpoint_id, "webhook endpoint enabled");
        }
        self.outbox.commit(tx).await?;
        self.get_endpoint(account_id, endpoint_id).await
    }

    /// Replaces the endpoint's signing secret; the current one keeps signing beside the new one for
    /// `overlap_secs` (the configured default when `None`; 0 ends it at once).
    pub async fn rotate_secret(
        &self,
        account_id: &AccountId,
        actor: Option<&str>,
        endpoint_id: &EndpointId,
        overlap_secs: Option<i64>,
    ) -> Result<CreatedEndpoint, WebhookError> {
        let overlap_secs = overlap_secs.unwrap_or(i64::try_from(self.config.secret_overlap_secs).unwrap_or(0));
        if !(0..=MAX_OVERLAP_SECS).contains(&overlap_secs) {
            return Err(WebhookError::field(
                "overlap_seconds",
                format!("between 0 and {MAX_OVERLAP_SECS}"),
            ));
        }
        let current: Option<(String, String, i64)> = sqlx::query_as(
            "SELECT secret, url, secret_version FROM webhook_endpoints WHERE account_id = $1 AND id = $2",
        )
        .bind(account_id.as_str())
        .bind(endpoint_id.as_str())
        .fetch_optional(self.db.pool())
        .await?;
        let (stored, url, version) = current.ok_or(WebhookError::EndpointNotFound)?;
        let now = now_ms();
        let previous_expires_at = now + overlap_secs * 1000;
        let secret = signing::new_secret();
        // With the vault, the new document is sealed first, replacing exactly the version read
        // (outside the transaction: the vault may share the database). An endpoint created before
        // the vault moves its secrets there now.
        let (new_stored, new_previous, new_version) = if self.secrets.sealed() {
            let previous = if version > 0 {
                self.secrets
                    .open(
                        account_id.as_str(),
                        endpoint_id.as_str(),
                        u64::try_from(version).unwrap_or_default(),
                    )
                    .await?
                    .current
            } else {
                stored.clone()
            };
            let doc = SecretDoc {
                current: secret.clone(),
                previous: Some(previous),
            };
            let sealed = self
                .secrets
                .seal(
                    account_id.as_str(),
                    endpoint_id.as_str(),
                    &doc,
                    u64::try_from(version).unwrap_or_default(),
                )
                .await?;
            (String::new(), None, i64::try_from(sealed).unwrap_or(i64::MAX))
        } else if version > 0 {
            return Err(WebhookError::Vault(
                "the secret is sealed but no vault is configured".to_owned(),
            ));
        } else {
            (secret.clone(), Some(stored.clone()), 0)
        };
        let mut tx = self.db.begin_write().await?;
        // Only over what was read: a concurrent rotation makes this one fail rather than interleave.
        let updated = sqlx::query(
            "UPDATE webhook_endpoints SET secret = $1, previous_secret = $2, previous_expires_at = $3, updated_at = $4, \
             secret_version = $5 WHERE account_id = $6 AND id = $7 AND secret = $8 AND secret_version = $9",
        )
        .bind(&new_stored)
        .bind(new_previous)
        .bind(previous_expires_at)
        .bind(now)
        .bind(new_version)
        .bind(account_id.as_str())
        .bind(endpoint_id.as_str())
        .bind(&stored)
        .bind(version)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if updated == 0 {
            tx.rollback().await?;
            return Err(WebhookError::Unprocessable(
                "the endpoint changed while its secret was rotated: rotate again".to_owned(),
            ));
        }
        let event = EndpointSecretRotated {
            endpoint_id: endpoint_id.to_string(),
            url,
            previous_expires_at_ms: previous_expires_at,
        };
        self.outbox
            .enqueue(
                &mut tx,
                &Envelope::new(EVENT_SOURCE, account_id.as_str(), actor, &event),
            )
            .await?;
        self.outbox.commit(tx).await?;
        let endpoint = self.get_endpoint(account_id, endpoint_id).await?;
        Ok(CreatedEndpoint { endpoint, secret })
    }
}

#[cfg(test)]
mod tests;
