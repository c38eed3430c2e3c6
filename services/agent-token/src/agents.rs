//! Agent identities: created with a secret key of their own (shown once, stored hashed), listed,
//! paused, resumed and revoked. Revocation is permanent. Every query names the account.

use latchkey_errors::{ApiError, ErrorCode, FieldError};
use latchkey_events::{
    DomainEvent, Envelope,
    catalogue::{AgentCreated, AgentPaused, AgentResumed, AgentRevoked},
};
use latchkey_ids::{AccountId, AgentId};
use latchkey_storage::{now_ms, sqlx};

use crate::plans::COUNT_AGENTS;
use latchkey_server::Limited;
use latchkey_server::{InfraError, stored_id};

use crate::{
    AgentToken, AgentTokenError, EVENT_SOURCE,
    secrets::{self, AGENT_SECRET_PREFIX},
};

const MAX_SHORT_TEXT: usize = 100;
const MAX_DESCRIPTION: usize = 1000;
const DEFAULT_PAGE: u32 = 20;
const MAX_PAGE: u32 = 100;

/// Where an agent stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AgentStatus {
    Active,
    Paused,
    Revoked,
}

impl AgentStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Paused => "paused",
            Self::Revoked => "revoked",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "active" => Some(Self::Active),
            "paused" => Some(Self::Paused),
            "revoked" => Some(Self::Revoked),
            _ => None,
        }
    }
}

/// What a status change asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AgentAction {
    Pause,
    Resume,
    Revoke,
}

/// An agent as stored; never its secret. Optional text is empty when not given.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Agent {
    pub id: AgentId,
    pub name: String,
    pub owner: String,
    pub description: String,
    pub model_provider: String,
    pub model_name: String,
    pub framework: String,
    pub status: AgentStatus,
    pub created_at_ms: i64,
    pub updated_at_ms: i64,
    pub revoked_at_ms: i64,
    /// The owner is an email address or domain name on one of the account's verified domains
    /// (`domains`). Set where agents are answered (create, list, get, status changes).
    pub owner_verified: bool,
}

/// The fields a new agent is created with.
#[derive(Clone, Debug, Default)]
pub struct NewAgent {
    pub name: String,
    pub owner: String,
    pub description: String,
    pub model_provider: String,
    pub model_name: String,
    pub framework: String,
}

/// An agent just created, with the secret key the caller sees once.
pub struct CreatedAgent {
    pub agent: Agent,
    pub secret_key: String,
}

impl std::fmt::Debug for CreatedAgent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CreatedAgent")
            .field("agent", &self.agent)
            .finish_non_exhaustive()
    }
}

impl NewAgent {
    /// Trims every field and checks it, naming each field at fault.
    fn validated(self) -> Result<Self, AgentTokenError> {
        let mut errors = Vec::new();
        let mut check = |field: &str, value: String, required: bool, max: usize| {
            let value = value.trim().to_owned();
            if required && value.is_empty() {
                errors.push(FieldError::new(field, "is required"));
            } else if value.chars().count() > max {
                errors.push(FieldError::new(field, format!("must be at most {max} characters")));
            } else if value.chars().any(char::is_control) && field != "description" {
                errors.push(FieldError::new(field, "must not contain control characters"));
            }
            value
        };
        let agent = Self {
            name: check("name", self.name, true, MAX_SHORT_TEXT),
            owner: check("owner", self.owner, true, MAX_SHORT_TEXT),
            description: check("description", self.description, false, MAX_DESCRIPTION),
            model_provider: check("model_provider", self.model_provider, false, MAX_SHORT_TEXT),
            model_name: check("model_name", self.model_name, false, MAX_SHORT_TEXT),
            framework: check("framework", self.framework, false, MAX_SHORT_TEXT),
        };
        if errors.is_empty() {
            Ok(agent)
        } else {
            Err(AgentTokenError::Invalid(ApiError::validation(errors)))
        }
    }
}

type AgentRow = (
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
    i64,
);

const AGENT_COLUMNS: &str = "id, name, owner, description, model_provider, model_name, framework, status, \
                             created_at, updated_at, revoked_at";

fn agent_from_row(row: AgentRow) -> Result<Agent, AgentTokenError> {
    let (id, name, owner, description, model_provider, model_name, framework, status, created, updated, revoked) = row;
    Ok(Agent {
        id: stored_id(id)?,
        name,
        owner,
        description,
        model_provider,
        model_name,
        framework,
        // Only this module writes the column, always from `AgentStatus::as_str`.
        status: AgentStatus::parse(&status).unwrap_or(AgentStatus::Revoked),
        created_at_ms: created,
        updated_at_ms: updated,
        revoked_at_ms: revoked,
        owner_verified: false,
    })
}

fn optional(value: &str) -> Option<String> {
    (!value.is_empty()).then(|| value.to_owned())
}

impl AgentToken {
    /// Creates an agent in `account` with a fresh secret key.
    pub async fn create_agent(
        &self,
        account: &AccountId,
        actor: Option<&str>,
        new: NewAgent,
    ) -> Result<CreatedAgent, AgentTokenError> {
        let new = new.validated()?;
        let secret_key = secrets::new_secret(AGENT_SECRET_PREFIX);
        let now = now_ms();
        let agent = Agent {
            id: AgentId::new(),
            name: new.name,
            owner: new.owner,
            description: new.description,
            model_provider: new.model_provider,
            model_name: new.model_name,
            framework: new.framework,
            status: AgentStatus::Active,
            created_at_ms: now,
            updated_at_ms: now,
            revoked_at_ms: 0,
            owner_verified: false,
        };
        let mut tx = self.db.begin_write().await?;
        self.check_plan(&mut tx, account, Limited::Agents, COUNT_AGENTS).await?;
        sqlx::query(
            "INSERT INTO agents (id, account_id, name, owner, description, model_provider, model_name, framework, \
             status, secret_hash, created_at, updated_at, revoked_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
        )
        .bind(agent.id.as_str())
        .bind(account.as_str())
        .bind(&agent.name)
        .bind(&agent.owner)
        .bind(&agent.description)
        .bind(&agent.model_provider)
        .bind(&agent.model_name)
        .bind(&agent.framework)
        .bind(agent.status.as_str())
        .bind(secrets::secret_hash(&secret_key))
        .bind(agent.created_at_ms)
        .bind(agent.updated_at_ms)
        .bind(agent.revoked_at_ms)
        .execute(&mut *tx)
        .await?;
        let event = AgentCreated {
            agent_id: agent.id.to_string(),
            name: agent.name.clone(),
            owner: agent.owner.clone(),
            model_provider: optional(&agent.model_provider),
            model_name: optional(&agent.model_name),
            framework: optional(&agent.framework),
        };
        self.outbox.enqueue(&mut tx, &envelope(account, actor, &event)).await?;
        self.outbox.commit(tx).await?;
        let mut agent = [agent];
        self.flag_verified_owners(account, &mut agent).await?;
        let [agent] = agent;
        Ok(CreatedAgent { agent, secret_key })
    }

    /// A page of the account's agents, oldest first, and how many match in all.
    pub async fn list_agents(
        &self,
        account: &AccountId,
        status: Option<AgentStatus>,
        limit: u32,
        offset: u32,
    ) -> Result<(Vec<Agent>, u64), AgentTokenError> {
        let limit = match limit {
            0 => DEFAULT_PAGE,
            limit if limit > MAX_PAGE => {
                let error = FieldError::new("limit", format!("must be between 1 and {MAX_PAGE}"));
                return Err(AgentTokenError::Invalid(ApiError::validation(vec![error])));
            }
            limit => limit,
        };
        let status = status.map(AgentStatus::as_str).unwrap_or_default();
        let rows: Vec<AgentRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {AGENT_COLUMNS} FROM agents WHERE account_id = $1 AND ($2 = '' OR status = $2) \
             ORDER BY created_at, id LIMIT $3 OFFSET $4"
        )))
        .bind(account.as_str())
        .bind(status)
        .bind(i64::from(limit))
        .bind(i64::from(offset))
        .fetch_all(self.db.pool())
        .await?;
        let total: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM agents WHERE account_id = $1 AND ($2 = '' OR status = $2)")
                .bind(account.as_str())
                .bind(status)
                .fetch_one(self.db.pool())
                .await?;
        let mut agents: Vec<Agent> = rows.into_iter().map(agent_from_row).collect::<Result<_, _>>()?;
        self.flag_verified_owners(account, &mut agents).await?;
        Ok((agents, total.max(0) as u64))
    }

    /// One of the account's agents; another account's is not found.
    pub async fn get_agent(&self, account: &AccountId, agent_id: &AgentId) -> Result<Agent, AgentTokenError> {
        let sql = format!("SELECT {AGENT_COLUMNS} FROM agents WHERE account_id = $1 AND id = $2");
        // Every token issue reads its agent: on SQLite, read on this thread (docs/storage.md).
        let row: Option<AgentRow> = match self.db.read_one_here(&sql, (account.as_str(), agent_id.as_str())) {
            Some(row) => row.map_err(InfraError::from)?,
            None => {
                sqlx::query_as(sqlx::AssertSqlSafe(sql))
                    .bind(account.as_str())
                    .bind(agent_id.as_str())
                    .fetch_optional(self.db.pool())
                    .await?
            }
        };
        row.ok_or(AgentTokenError::AgentNotFound).and_then(agent_from_row)
    }

    /// One of the account's agents as its callers see it: [`get_agent`](Self::get_agent) with
    /// `owner_verified` set (one more query, so the issue path does without).
    pub async fn describe_agent(&self, account: &AccountId, agent_id: &AgentId) -> Result<Agent, AgentTokenError> {
        let mut agent = [self.get_agent(account, agent_id).await?];
        self.flag_verified_owners(account, &mut agent).await?;
        let [agent] = agent;
        Ok(agent)
    }

    /// Pauses, resumes or revokes an agent. Asking for the state it is already in changes nothing
    /// and emits nothing; a revoked agent cannot be paused or resumed.
    ///
    /// The update is conditional on the status it was decided from, so two racing changes (a resume
    /// and a revoke on two PostgreSQL connections) cannot both apply: the loser reads the new status
    /// and decides again, and a revoked agent never comes back.
    pub async fn change_agent_status(
        &self,
        account: &AccountId,
        actor: Option<&str>,
        agent_id: &AgentId,
        action: AgentAction,
    ) -> Result<Agent, AgentTokenError> {
        const ATTEMPTS: usize = 8;
        for _ in 0..ATTEMPTS {
            if self.try_change_status(account, actor, agent_id, action).await? {
                return self.describe_agent(account, agent_id).await;
            }
        }
        tracing::warn!(%agent_id, "agent status kept changing under a status change; giving up");
        Err(AgentTokenError::Invalid(ApiError::new(
            ErrorCode::Unprocessable,
            "the agent's status is changing concurrently; try again",
        )))
    }

    /// One attempt: `false` when the status changed between the read and the conditional update.
    async fn try_change_status(
        &self,
        account: &AccountId,
        actor: Option<&str>,
        agent_id: &AgentId,
        action: AgentAction,
    ) -> Result<bool, AgentTokenError> {
        let mut tx = self.db.begin_write().await?;
        let current: Option<String> = sqlx::query_scalar("SELECT status FROM agents WHERE account_id = $1 AND id = $2")
            .bind(account.as_str())
            .bind(agent_id.as_str())
            .fetch_optional(&mut *tx)
            .await?;
        let current = current
            .and_then(|s| AgentStatus::parse(&s))
            .ok_or(AgentTokenError::AgentNotFound)?;
        let target = match (current, action) {
            (AgentStatus::Revoked, AgentAction::Revoke) => None,
            (AgentStatus::Revoked, _) => {
                return Err(AgentTokenError::Invalid(ApiError::new(
                    ErrorCode::Unprocessable,
                    "the agent is revoked; revocation is permanent",
                )));
            }
            (AgentStatus::Active, AgentAction::Pause) => Some(AgentStatus::Paused),
            (AgentStatus::Paused, AgentAction::Resume) => Some(AgentStatus::Active),
            (_, AgentAction::Revoke) => Some(AgentStatus::Revoked),
            _ => None,
        };
        if let Some(target) = target {
            let now = now_ms();
            let revoked_at = if target == AgentStatus::Revoked { now } else { 0 };
            let changed = sqlx::query(
                "UPDATE agents SET status = $1, updated_at = $2, revoked_at = $3 \
                 WHERE account_id = $4 AND id = $5 AND status = $6 AND status <> 'revoked'",
            )
            .bind(target.as_str())
            .bind(now)
            .bind(revoked_at)
            .bind(account.as_str())
            .bind(agent_id.as_str())
            .bind(current.as_str())
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if changed == 0 {
                tx.rollback().await?;
                return Ok(false);
            }
            let agent_id = agent_id.to_string();
            let envelope = match target {
                AgentStatus::Paused => envelope(account, actor, &AgentPaused { agent_id, at_ms: now }),
                AgentStatus::Active => envelope(account, actor, &AgentResumed { agent_id, at_ms: now }),
                AgentStatus::Revoked => envelope(account, actor, &AgentRevoked { agent_id, at_ms: now }),
            };
            self.outbox.enqueue(&mut tx, &envelope).await?;
            self.outbox.commit(tx).await?;
        } else {
            tx.rollback().await?;
        }
        Ok(true)
    }

    /// Resolves an agent's secret key to the agent (for agents requesting their own tokens).
    pub async fn authenticate_agent(&self, secret_key: &str) -> Result<(AccountId, Agent), AgentTokenError> {
        if !secrets::looks_like_secret(secret_key, AGENT_SECRET_PREFIX) {
            return Err(AgentTokenError::Unauthenticated);
        }
        let presented = secrets::secret_hash(secret_key);
        let row: Option<(String, String)> =
            sqlx::query_as("SELECT account_id, secret_hash FROM agents WHERE secret_hash = $1")
                .bind(&presented)
                .fetch_optional(self.db.pool())
                .await?;
        match row {
            Some((account_id, stored)) if secrets::hashes_match(&stored, &presented) => {
                let row: Option<AgentRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                    "SELECT {AGENT_COLUMNS} FROM agents WHERE secret_hash = $1"
                )))
                .bind(&presented)
                .fetch_optional(self.db.pool())
                .await?;
                let agent = row.ok_or(AgentTokenError::Unauthenticated).and_then(agent_from_row)?;
                Ok((stored_id(account_id)?, agent))
            }
            _ => Err(AgentTokenError::Unauthenticated),
        }
    }
}

fn envelope<E: DomainEvent>(account: &AccountId, actor: Option<&str>, event: &E) -> Envelope {
    Envelope::new(EVENT_SOURCE, account.as_str(), actor, event)
}
