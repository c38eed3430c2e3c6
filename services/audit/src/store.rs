//! Appending to and reading from the chains. Every query names the account, and an event enters a
//! chain only with an account id that parses.

use std::collections::{HashMap, HashSet};

use futures::{Stream, TryStreamExt, stream};
use latchkey_events::Envelope;
use latchkey_ids::AccountId;
use latchkey_server::{InfraError, stored_id};
use latchkey_storage::{Lease, is_unique_violation, sqlx};
use serde_json::Value;

use crate::{
    Audit, AuditError,
    chain::{ChainEntry, EntryFields, GENESIS_HASH, hash_canonical_data, write_canonical},
};

/// How many times an append retries after losing the head to a concurrent appender.
const APPEND_ATTEMPTS: usize = 50;
/// Rows per multi-row statement: 11 parameters each stays far below every backend's limit.
const ROWS_PER_STATEMENT: usize = 200;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Order {
    NewestFirst,
    OldestFirst,
}

/// Which event types a query keeps.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TypeFilter {
    /// Exactly this type.
    Exact(String),
    /// Every type that starts with this prefix (`token.` for `token.*`).
    Prefix(String),
}

impl TypeFilter {
    /// `token.*` is a prefix, anything else an exact type.
    pub fn parse(pattern: &str) -> Self {
        match pattern.strip_suffix('*') {
            Some(prefix) => Self::Prefix(prefix.to_owned()),
            None => Self::Exact(pattern.to_owned()),
        }
    }
}

/// A page request over one account's chain.
#[derive(Clone, Debug)]
pub struct EntryQuery {
    /// Only entries of these event types, when set.
    pub event_type: Option<TypeFilter>,
    /// Only entries whose actor is this.
    pub actor: Option<String>,
    /// Only entries whose subject is this.
    pub subject: Option<String>,
    /// Only entries whose actor or subject is this agent.
    pub agent: Option<String>,
    /// Only entries at or after this time (Unix ms).
    pub from_ms: Option<i64>,
    /// Only entries strictly before this time (Unix ms).
    pub to_ms: Option<i64>,
    /// Continue after this seq (exclusive), in the query's order.
    pub cursor: Option<i64>,
    pub limit: u32,
    pub order: Order,
}

impl EntryQuery {
    /// Every entry, oldest first, `limit` at a time.
    pub fn all(limit: u32) -> Self {
        Self {
            event_type: None,
            actor: None,
            subject: None,
            agent: None,
            from_ms: None,
            to_ms: None,
            cursor: None,
            limit,
            order: Order::OldestFirst,
        }
    }
}

/// An entry as stored: the data as its canonical JSON text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredEntry {
    pub account_id: AccountId,
    pub seq: i64,
    pub event_id: String,
    pub event_type: String,
    pub time_ms: i64,
    pub actor: String,
    pub subject: String,
    pub decision_id: String,
    pub data_json: String,
    pub prev_hash: String,
    pub hash: String,
}

impl StoredEntry {
    /// The hashed fields, borrowed.
    pub fn fields(&self) -> EntryFields<'_> {
        EntryFields {
            account_id: self.account_id.as_str(),
            seq: self.seq,
            event_id: &self.event_id,
            event_type: &self.event_type,
            time_ms: self.time_ms,
            actor: &self.actor,
            subject: &self.subject,
            decision_id: &self.decision_id,
            data_json: &self.data_json,
        }
    }

    pub fn into_chain_entry(self) -> ChainEntry {
        ChainEntry {
            data: serde_json::from_str(&self.data_json).unwrap_or(Value::Null),
            account_id: self.account_id.into_string(),
            seq: self.seq,
            event_id: self.event_id,
            event_type: self.event_type,
            time_ms: self.time_ms,
            actor: self.actor,
            subject: self.subject,
            decision_id: self.decision_id,
            prev_hash: self.prev_hash,
            hash: self.hash,
        }
    }
}

/// Event counts of one type on one UTC day.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DailyCount {
    /// Days since the Unix epoch.
    pub day: i64,
    pub event_type: String,
    pub count: i64,
}

pub(crate) type EntryRow = (
    String,
    i64,
    String,
    String,
    i64,
    String,
    String,
    String,
    String,
    String,
    String,
);

pub(crate) fn entry_from_row(row: EntryRow) -> Result<StoredEntry, AuditError> {
    let (account_id, seq, event_id, event_type, time_ms, actor, subject, decision_id, data_json, prev_hash, hash) = row;
    Ok(StoredEntry {
        account_id: stored_id(account_id)?,
        seq,
        event_id,
        event_type,
        time_ms,
        actor,
        subject,
        decision_id,
        data_json,
        prev_hash,
        hash,
    })
}

/// An event on its way into its account's chain, its account parsed.
struct Incoming<'a> {
    account: AccountId,
    event: &'a Envelope,
}

/// The events whose account is an account id, in order. Any other event could never be read or
/// verified by an account, so it is logged and left out, as the bus drops an event that does not
/// decode.
fn with_accounts(events: &[Envelope]) -> Vec<Incoming<'_>> {
    events
        .iter()
        .filter_map(|event| match AccountId::parse(&event.account) {
            Ok(account) => Some(Incoming { account, event }),
            Err(error) => {
                tracing::error!(
                    event_id = %event.id,
                    event_type = %event.event_type,
                    %error,
                    "skipping an event whose account is not an account id"
                );
                None
            }
        })
        .collect()
}

/// The directory service an event happened in: its data's `service_id`, when it has one (every
/// directory event does); empty otherwise. Stored beside the entry, outside its hash, so a
/// service's analytics can count its own events.
fn service_of(data: &serde_json::Value) -> String {
    data.get("service_id")
        .and_then(serde_json::Value::as_str)
        .filter(|id| id.starts_with("svc_") && id.len() <= 64)
        .unwrap_or_default()
        .to_owned()
}

const COLUMNS: &str =
    "account_id, seq, event_id, event_type, time_ms, actor, subject, decision_id, data, prev_hash, hash";

/// A bind parameter of a statement built at run time.
enum Arg {
    Text(String),
    Int(i64),
}

/// `WHERE` clauses and their parameters, numbered as they are added.
struct Conditions {
    sql: String,
    args: Vec<Arg>,
}

impl Conditions {
    fn for_account(account: &AccountId) -> Self {
        Self {
            sql: "account_id = $1".to_owned(),
            args: vec![Arg::Text(account.to_string())],
        }
    }

    fn next(&mut self, arg: Arg) -> String {
        self.args.push(arg);
        format!("${}", self.args.len())
    }

    /// Adds ` AND <clause>`, where `clause` names its parameters through `next`.
    fn and(&mut self, clause: impl FnOnce(&mut Self) -> String) {
        let clause = clause(self);
        self.sql.push_str(" AND ");
        self.sql.push_str(&clause);
    }
}

fn bind_all<'q, O>(
    mut query: sqlx::query::QueryAs<'q, sqlx::Any, O, sqlx::any::AnyArguments>,
    args: Vec<Arg>,
) -> sqlx::query::QueryAs<'q, sqlx::Any, O, sqlx::any::AnyArguments> {
    for arg in args {
        query = match arg {
            Arg::Text(text) => query.bind(text),
            Arg::Int(int) => query.bind(int),
        };
    }
    query
}

impl Audit {
    /// Appends `event` to its account's chain. Idempotent: an event already in the chain is not
    /// appended again (returns false), so redelivery never duplicates an entry. An event whose
    /// account is not an account id is logged and not appended (false).
    pub async fn append(&self, event: &Envelope) -> Result<bool, AuditError> {
        Ok(self.append_batch(std::slice::from_ref(event)).await? == 1)
    }

    /// Appends `events`, in order, to their accounts' chains in one transaction, and answers how many
    /// were new. Events already in a chain (or repeated within the batch) are skipped. Losing a chain
    /// head to a concurrent appender rolls the whole batch back and retries it on the new heads.
    /// Events whose account is not an account id are logged and left out.
    pub async fn append_batch(&self, events: &[Envelope]) -> Result<usize, AuditError> {
        self.append_batch_holding(events, None).await
    }

    /// [`append_batch`](Self::append_batch) by the consuming replica: writes nothing, and fails
    /// with [`AuditError::LeaseLost`], once another replica took `lease` over.
    pub(crate) async fn append_batch_holding(
        &self,
        events: &[Envelope],
        lease: Option<&Lease>,
    ) -> Result<usize, AuditError> {
        let events = with_accounts(events);
        if events.is_empty() {
            return Ok(0);
        }
        for _ in 0..APPEND_ATTEMPTS {
            match self.try_append_batch(&events, lease).await {
                Ok(appended) => return Ok(appended),
                // Another appender took a position (or an event) first: look again.
                Err(AuditError::Infra(InfraError::Database(err))) if is_unique_violation(&err) => continue,
                Err(err) => return Err(err),
            }
        }
        Err(AuditError::Contended)
    }

    async fn try_append_batch(&self, events: &[Incoming<'_>], lease: Option<&Lease>) -> Result<usize, AuditError> {
        let mut tx = self.db.begin_write().await?;
        if let Some(lease) = lease
            && !lease.renew_in(&mut tx).await?
        {
            return Err(AuditError::LeaseLost);
        }
        let mut seen: HashSet<String> = HashSet::new();
        for chunk in events.chunks(ROWS_PER_STATEMENT) {
            let placeholders: Vec<String> = (1..=chunk.len()).map(|i| format!("${i}")).collect();
            let sql = sqlx::AssertSqlSafe(format!(
                "SELECT event_id FROM audit_entries WHERE event_id IN ({})",
                placeholders.join(", ")
            ));
            let mut query = sqlx::query_scalar::<_, String>(sql);
            for incoming in chunk {
                query = query.bind(&incoming.event.id);
            }
            seen.extend(query.fetch_all(&mut *tx).await?);
        }
        let mut heads: HashMap<&AccountId, (i64, [u8; 32])> = HashMap::new();
        let mut rows: Vec<StoredEntry> = Vec::with_capacity(events.len());
        let mut services: Vec<String> = Vec::with_capacity(events.len());
        let mut buf = Vec::with_capacity(512);
        for Incoming { account, event } in events {
            if !seen.insert(event.id.clone()) {
                continue;
            }
            if !heads.contains_key(account) {
                let head: Option<(i64, String)> = sqlx::query_as(
                    "SELECT seq, hash FROM audit_entries WHERE account_id = $1 ORDER BY seq DESC LIMIT 1",
                )
                .bind(account.as_str())
                .fetch_optional(&mut *tx)
                .await?;
                let (seq, hash) = head.unwrap_or((0, GENESIS_HASH.to_owned()));
                let mut bytes = [0u8; 32];
                // A stored head that is not hex is a broken chain; verification names it.
                let _ = hex::decode_to_slice(&hash, &mut bytes);
                heads.insert(account, (seq, bytes));
            }
            let head = heads.get_mut(account).expect("head read above");
            let mut data = Vec::with_capacity(128);
            write_canonical(&event.data, &mut data);
            let mut row = StoredEntry {
                account_id: account.clone(),
                seq: head.0 + 1,
                event_id: event.id.clone(),
                event_type: event.event_type.clone(),
                time_ms: event.time.timestamp_millis(),
                actor: event.actor.clone().unwrap_or_else(|| "system".to_owned()),
                subject: event.subject.clone().unwrap_or_default(),
                decision_id: event.decisionid.clone().unwrap_or_default(),
                data_json: String::from_utf8(data).unwrap_or_default(),
                prev_hash: hex::encode(head.1),
                hash: String::new(),
            };
            let hash = hash_canonical_data(&head.1, &row.fields(), row.data_json.as_bytes(), &mut buf);
            row.hash = hex::encode(hash);
            *head = (row.seq, hash);
            rows.push(row);
            services.push(service_of(&event.data));
        }
        for (chunk, chunk_services) in rows.chunks(ROWS_PER_STATEMENT).zip(services.chunks(ROWS_PER_STATEMENT)) {
            let values: Vec<String> = (0..chunk.len())
                .map(|r| {
                    let n = r * 12;
                    format!(
                        "(${}, ${}, ${}, ${}, ${}, ${}, ${}, ${}, ${}, ${}, ${}, ${})",
                        n + 1,
                        n + 2,
                        n + 3,
                        n + 4,
                        n + 5,
                        n + 6,
                        n + 7,
                        n + 8,
                        n + 9,
                        n + 10,
                        n + 11,
                        n + 12
                    )
                })
                .collect();
            let sql = sqlx::AssertSqlSafe(format!(
                "INSERT INTO audit_entries ({COLUMNS}, service_id) VALUES {}",
                values.join(", ")
            ));
            let mut insert = sqlx::query(sql);
            for (row, service) in chunk.iter().zip(chunk_services) {
                insert = insert
                    .bind(row.account_id.as_str())
                    .bind(row.seq)
                    .bind(&row.event_id)
                    .bind(&row.event_type)
                    .bind(row.time_ms)
                    .bind(&row.actor)
                    .bind(&row.subject)
                    .bind(&row.decision_id)
                    .bind(&row.data_json)
                    .bind(&row.prev_hash)
                    .bind(&row.hash)
                    .bind(service);
            }
            insert.execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(rows.len())
    }

    /// One page of `account`'s chain, and the cursor of the next page if there is one.
    pub async fn list_entries(
        &self,
        account: &AccountId,
        query: &EntryQuery,
    ) -> Result<(Vec<StoredEntry>, Option<i64>), AuditError> {
        let limit = i64::from(query.limit.clamp(1, 1000));
        let mut conditions = Conditions::for_account(account);
        match &query.event_type {
            Some(TypeFilter::Exact(event_type)) => {
                conditions.and(|c| format!("event_type = {}", c.next(Arg::Text(event_type.clone()))));
            }
            Some(TypeFilter::Prefix(prefix)) => {
                // A range rather than LIKE: `_` in a type is a LIKE wildcard, and a range uses the index.
                let mut end = prefix.clone();
                let upper = end
                    .pop()
                    .map(|last| char::from_u32(last as u32 + 1).unwrap_or(char::MAX));
                conditions.and(|c| format!("event_type >= {}", c.next(Arg::Text(prefix.clone()))));
                if let Some(upper) = upper {
                    end.push(upper);
                    conditions.and(|c| format!("event_type < {}", c.next(Arg::Text(end))));
                }
            }
            None => {}
        }
        if let Some(actor) = &query.actor {
            conditions.and(|c| format!("actor = {}", c.next(Arg::Text(actor.clone()))));
        }
        if let Some(subject) = &query.subject {
            conditions.and(|c| format!("subject = {}", c.next(Arg::Text(subject.clone()))));
        }
        if let Some(agent) = &query.agent {
            conditions.and(|c| {
                let actor = c.next(Arg::Text(agent.clone()));
                let subject = c.next(Arg::Text(agent.clone()));
                format!("(actor = {actor} OR subject = {subject})")
            });
        }
        if let Some(from) = query.from_ms {
            conditions.and(|c| format!("time_ms >= {}", c.next(Arg::Int(from))));
        }
        if let Some(to) = query.to_ms {
            conditions.and(|c| format!("time_ms < {}", c.next(Arg::Int(to))));
        }
        let direction = match (query.order, query.cursor) {
            (Order::NewestFirst, cursor) => {
                let cursor = cursor.unwrap_or(i64::MAX);
                conditions.and(|c| format!("seq < {}", c.next(Arg::Int(cursor))));
                "DESC"
            }
            (Order::OldestFirst, cursor) => {
                let cursor = cursor.unwrap_or(0);
                conditions.and(|c| format!("seq > {}", c.next(Arg::Int(cursor))));
                "ASC"
            }
        };
        let limit_param = conditions.next(Arg::Int(limit + 1));
        let sql = sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM audit_entries WHERE {} ORDER BY seq {direction} LIMIT {limit_param}",
            conditions.sql
        ));
        let rows: Vec<EntryRow> = bind_all(sqlx::query_as(sql), conditions.args)
            .fetch_all(self.db.pool())
            .await?;
        let mut entries = rows.into_iter().map(entry_from_row).collect::<Result<Vec<_>, _>>()?;
        let next = if entries.len() as i64 > limit {
            entries.truncate(limit as usize);
            entries.last().map(|e| e.seq)
        } else {
            None
        };
        Ok((entries, next))
    }

    /// `account`'s whole chain, oldest first, read a page at a time as the stream is polled: at
    /// most one page is held, whatever the chain's length.
    pub fn export(&self, account: &AccountId) -> impl Stream<Item = Result<StoredEntry, AuditError>> + Send + 'static {
        let audit = self.clone();
        let page_size = self.export_page_size;
        let start = (account.clone(), Some(0_i64));
        stream::try_unfold(start, move |(account, cursor)| {
            let audit = audit.clone();
            async move {
                let Some(cursor) = cursor else {
                    return Ok::<_, AuditError>(None);
                };
                let mut query = EntryQuery::all(page_size);
                query.cursor = Some(cursor);
                let (page, next) = audit.list_entries(&account, &query).await?;
                audit.pages_read.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if page.is_empty() {
                    return Ok(None);
                }
                Ok(Some((page, (account, next))))
            }
        })
        .map_ok(|page| stream::iter(page.into_iter().map(Ok)))
        .try_flatten()
    }

    /// The whole of `account`'s chain, oldest first, read in pages.
    pub async fn chain_of(&self, account: &AccountId) -> Result<Vec<ChainEntry>, AuditError> {
        self.export(account)
            .map_ok(StoredEntry::into_chain_entry)
            .try_collect()
            .await
    }

    /// Counts of `account`'s events by UTC day and type, in `[from_ms, to_ms)`; with `service`, only
    /// the events of that directory service (those whose data names it as `service_id`).
    pub async fn daily_counts(
        &self,
        account: &AccountId,
        service: Option<&str>,
        from_ms: Option<i64>,
        to_ms: Option<i64>,
    ) -> Result<Vec<DailyCount>, AuditError> {
        let rows: Vec<(i64, String, i64)> = sqlx::query_as(
            "SELECT time_ms / 86400000 AS day, event_type, COUNT(*) AS n FROM audit_entries \
             WHERE account_id = $1 AND time_ms >= $2 AND time_ms < $3 AND ($4 = '' OR service_id = $4) \
             GROUP BY time_ms / 86400000, event_type ORDER BY day, event_type",
        )
        .bind(account.as_str())
        .bind(from_ms.unwrap_or(i64::MIN))
        .bind(to_ms.unwrap_or(i64::MAX))
        .bind(service.unwrap_or_default())
        .fetch_all(self.db.pool())
        .await?;
        Ok(rows
            .into_iter()
            .map(|(day, event_type, count)| DailyCount { day, event_type, count })
            .collect())
    }
}
