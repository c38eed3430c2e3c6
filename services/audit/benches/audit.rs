//! The audit log's two hot paths.
//!
//! - `append`: events appended to one account's chain on SQLite (as `latchkey dev` keeps it; set
//!   `BENCH_AUDIT_POSTGRES=1` to add PostgreSQL), one event per transaction (`append`) and a
//!   consumer-sized batch per transaction (`append_batch`, 500 events). Target: ≥ 20,000 events/s.
//! - `consume`: end to end through NATS JetStream (a nats-server of the bench's own), 50,000 events of
//!   a new account per iteration, published 1,000 per call, timed until the chain holds them all (its
//!   head reaches seq 50,000). `nats_burst_50k`: the audit consumer is running and the timer starts
//!   with the first publish (publishing and consuming share the machine, as in production);
//!   `nats_backlog_50k`: the burst waits in the stream and the timer starts with the consumer (the
//!   consumer alone). Same backends as `append`. Target: ≥ 20,000 events/s.
//! - `verify`: recomputing a 100,000-entry chain already read from storage (the stored form: data as
//!   canonical JSON text), on one thread (`stored_chain_100k`) and hashed on every core then joined
//!   (`stored_chain_100k_every_core`); and the API's whole path, the chain read from the database a
//!   page at a time while the page before hashes (`service_100k`, same backends as `append`); and
//!   `latchkey audit verify --file` on the chain as the API exports it in JSON Lines, read one JSON
//!   value at a time as before (`export_jsonl_100k_one_value_at_a_time`) and many lines at once on
//!   every core (`export_jsonl_100k`).
//!   Target: ≥ 1,000,000 entries/s.
//!
//! `cargo bench -p latchkey-audit --bench audit` (or `make bench`).

// Tests and benchmarks start their own helpers (receivers, fake peers, a service under test) with
// `tokio::spawn` and await or abort the handles themselves; `latchkey_server::Tasks` (which
// clippy.toml makes the only way in the crates' own code) is for what a service runs.
#![allow(clippy::disallowed_methods)]

use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use latchkey_audit::EntryQuery;
use latchkey_audit::{
    Audit, ChainVerifier, ExportVerifier, GENESIS_HASH, Link, StoredEntry, chain::hash_canonical_data, links_of,
    verify_json_export, verify_json_stream,
};
use latchkey_events::{Envelope, EventBus, NatsConnection, catalogue::TokenIssued};
use latchkey_ids::AccountId;
use latchkey_server::MeshAuth;
use latchkey_storage::{Backend, Db};
use latchkey_test_support::{NatsServer, TestDatabase, unique_prefix};

const BATCH: usize = 500;
const BURST: usize = 50_000;
const CHAIN: usize = 100_000;

fn envelopes(count: usize) -> Vec<Envelope> {
    account_envelopes("acct_bench", count)
}

fn account_envelopes(account: &str, count: usize) -> Vec<Envelope> {
    (0..count)
        .map(|n| {
            let event = TokenIssued {
                jti: format!("jti-{n}-{}", uuid::Uuid::now_v7().simple()),
                agent_id: "agt_bench".to_owned(),
                scope: vec!["secrets.read".to_owned()],
                audience: "https://api.example.com".to_owned(),
                expires_at: 1_767_225_600,
                intent: None,
                delegated_from: None,
            };
            Envelope::new("/latchkey/bench", account, Some("key_bench"), &event)
        })
        .collect()
}

/// The audit service on a database of its own (kept while the database value lives).
async fn fresh_audit(backend: Backend) -> (TestDatabase, Audit) {
    let database = TestDatabase::new(backend).await;
    let db = Db::connect(database.url()).await.expect("database");
    let audit = Audit::open(db, MeshAuth::new("bench-token-0123456789"))
        .await
        .expect("audit");
    (database, audit)
}

fn append(c: &mut Criterion) {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let backends = backends();
    let mut group = c.benchmark_group("append");
    group.sample_size(10).measurement_time(Duration::from_secs(10));
    for backend in backends {
        let (database, audit) = runtime.block_on(fresh_audit(backend));
        group.throughput(Throughput::Elements(BATCH as u64));
        group.bench_function(BenchmarkId::new("one_per_transaction", format!("{backend:?}")), |b| {
            b.iter_custom(|iterations| {
                runtime.block_on(async {
                    let mut elapsed = Duration::ZERO;
                    for _ in 0..iterations {
                        let events = envelopes(BATCH);
                        let start = Instant::now();
                        for event in &events {
                            audit.append(event).await.expect("append");
                        }
                        elapsed += start.elapsed();
                    }
                    elapsed
                })
            })
        });
        group.bench_function(BenchmarkId::new("batch_of_500", format!("{backend:?}")), |b| {
            b.iter_custom(|iterations| {
                runtime.block_on(async {
                    let mut elapsed = Duration::ZERO;
                    for _ in 0..iterations {
                        let events = envelopes(BATCH);
                        let start = Instant::now();
                        assert_eq!(audit.append_batch(&events).await.expect("append"), BATCH);
                        elapsed += start.elapsed();
                    }
                    elapsed
                })
            })
        });
        drop(audit);
        drop(database);
    }
    group.finish();
}

fn backends() -> Vec<Backend> {
    let mut backends = vec![Backend::Sqlite];
    if std::env::var_os("BENCH_AUDIT_POSTGRES").is_some() {
        backends.push(Backend::Postgres);
    }
    backends
}

/// The seq of `account`'s newest entry (0 for an empty chain).
async fn head_seq(audit: &Audit, account: &str) -> i64 {
    let mut newest = EntryQuery::all(1);
    newest.order = latchkey_audit::Order::NewestFirst;
    let account = AccountId::parse(account).expect("an account id");
    let (page, _) = audit.list_entries(&account, &newest).await.expect("read the head");
    page.first().map_or(0, |entry| entry.seq)
}

/// The audit consumer, running until stopped.
struct RunningConsumer {
    shutdown: tokio_util::sync::CancellationToken,
    task: tokio::task::JoinHandle<()>,
}

impl RunningConsumer {
    fn start(audit: &Audit, bus: &EventBus) -> Self {
        let shutdown = tokio_util::sync::CancellationToken::new();
        let task = tokio::spawn(audit.clone().consume(bus.clone(), shutdown.clone()));
        Self { shutdown, task }
    }

    async fn stop(self) {
        self.shutdown.cancel();
        self.task.await.expect("the consumer stops");
    }
}

/// Publishes `events` 1,000 per call.
async fn publish(bus: &EventBus, events: &[Envelope]) {
    for chunk in events.chunks(1000) {
        bus.publish(chunk).await.expect("publish");
    }
}

/// Waits until `account`'s chain holds `count` entries.
async fn wait_for_chain(audit: &Audit, account: &str, count: usize) {
    while head_seq(audit, account).await < count as i64 {
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

fn consume(c: &mut Criterion) {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let mut group = c.benchmark_group("consume");
    group.sample_size(10).measurement_time(Duration::from_secs(30));
    group.throughput(Throughput::Elements(BURST as u64));
    for backend in backends() {
        let (nats, database, audit, bus) = runtime.block_on(async {
            let nats = NatsServer::spawn().await;
            let (database, audit) = fresh_audit(backend).await;
            let connection = NatsConnection::connect(nats.url(), async_nats::ConnectOptions::new())
                .await
                .expect("connect to NATS");
            let bus = EventBus::nats(connection, &unique_prefix()).await.expect("bus");
            (nats, database, audit, bus)
        });
        let mut accounts = 0_usize;
        let mut next_account = move || {
            accounts += 1;
            format!("acct_burst_{accounts}")
        };
        // Publishing and consuming at once, as in production.
        let consumer = runtime.block_on(async { RunningConsumer::start(&audit, &bus) });
        group.bench_function(BenchmarkId::new("nats_burst_50k", format!("{backend:?}")), |b| {
            b.iter_custom(|iterations| {
                runtime.block_on(async {
                    let mut elapsed = Duration::ZERO;
                    for _ in 0..iterations {
                        let account = next_account();
                        let events = account_envelopes(&account, BURST);
                        let start = Instant::now();
                        publish(&bus, &events).await;
                        wait_for_chain(&audit, &account, BURST).await;
                        elapsed += start.elapsed();
                    }
                    elapsed
                })
            })
        });
        runtime.block_on(consumer.stop());
        // The consumer alone: the burst waits in the stream, then the consumer starts.
        group.bench_function(BenchmarkId::new("nats_backlog_50k", format!("{backend:?}")), |b| {
            b.iter_custom(|iterations| {
                runtime.block_on(async {
                    let mut elapsed = Duration::ZERO;
                    for _ in 0..iterations {
                        let account = next_account();
                        publish(&bus, &account_envelopes(&account, BURST)).await;
                        let start = Instant::now();
                        let consumer = RunningConsumer::start(&audit, &bus);
                        wait_for_chain(&audit, &account, BURST).await;
                        elapsed += start.elapsed();
                        consumer.stop().await;
                    }
                    elapsed
                })
            })
        });
        drop((audit, bus, database, nats));
    }
    group.finish();
}

/// A valid chain of `n` entries in their stored form.
fn stored_chain(n: usize) -> Vec<StoredEntry> {
    let mut prev = [0u8; 32];
    let mut buf = Vec::new();
    (1..=n as i64)
        .map(|seq| {
            let mut entry = StoredEntry {
                account_id: AccountId::parse("acct_bench").expect("an account id"),
                seq,
                event_id: uuid::Uuid::now_v7().to_string(),
                event_type: "token.issued".to_owned(),
                time_ms: 1_767_225_600_000 + seq,
                actor: "key_0123456789abcdef".to_owned(),
                subject: format!("jti-{seq}"),
                decision_id: "dec_0123456789abcdef".to_owned(),
                data_json: format!(
                    r#"{{"agent_id":"agt_bench","audience":"https://api.example.com","expires_at":1767225600,"jti":"jti-{seq}","scope":["secrets.read"]}}"#
                ),
                prev_hash: if seq == 1 { GENESIS_HASH.to_owned() } else { hex::encode(prev) },
                hash: String::new(),
            };
            let hash = hash_canonical_data(&prev, &entry.fields(), entry.data_json.as_bytes(), &mut buf);
            entry.hash = hex::encode(hash);
            prev = hash;
            entry
        })
        .collect()
}

/// `chain` as the API's JSON Lines export writes it.
fn export_lines(chain: &[StoredEntry]) -> String {
    let mut text = String::new();
    for entry in chain {
        let time = chrono::DateTime::from_timestamp_millis(entry.time_ms)
            .expect("a time")
            .to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        let line = serde_json::json!({
            "account_id": entry.account_id.as_str(), "seq": entry.seq, "event_id": entry.event_id,
            "type": entry.event_type, "time": time, "time_ms": entry.time_ms, "actor": entry.actor,
            "subject": entry.subject, "decision_id": entry.decision_id,
            "data": serde_json::from_str::<serde_json::Value>(&entry.data_json).expect("data"),
            "prev_hash": entry.prev_hash, "hash": entry.hash,
        });
        text.push_str(&line.to_string());
        text.push('\n');
    }
    text
}

fn verify(c: &mut Criterion) {
    let chain = stored_chain(CHAIN);
    let mut group = c.benchmark_group("verify");
    group.throughput(Throughput::Elements(CHAIN as u64));
    group.sample_size(10);
    group.bench_function("stored_chain_100k", |b| {
        b.iter(|| {
            let mut verifier = ChainVerifier::new();
            for entry in &chain {
                verifier.check(&entry.fields(), &entry.prev_hash, &entry.hash);
            }
            let verification = verifier.finish();
            assert!(verification.is_valid());
            verification
        })
    });
    group.bench_function("stored_chain_100k_every_core", |b| {
        b.iter(|| {
            let mut verifier = ChainVerifier::new();
            let links = links_of(&chain, |entry, buf| {
                Link::of(&entry.fields(), &entry.prev_hash, &entry.hash, buf)
            });
            verifier.check_links(&links);
            let verification = verifier.finish();
            assert!(verification.is_valid());
            verification
        })
    });

    // `latchkey audit verify --file`: the chain as the API exports it in JSON Lines.
    let export = export_lines(&chain);
    group.bench_function("export_jsonl_100k_one_value_at_a_time", |b| {
        b.iter(|| {
            let mut verifier = ExportVerifier::new(ChainVerifier::new());
            verify_json_stream(export.as_bytes(), &mut verifier).expect("readable");
            assert!(verifier.finish().is_valid());
        })
    });
    group.bench_function("export_jsonl_100k", |b| {
        b.iter(|| {
            let mut verifier = ExportVerifier::new(ChainVerifier::new());
            verify_json_export(export.as_bytes(), &mut verifier).expect("readable");
            assert!(verifier.finish().is_valid());
        })
    });

    // The API's path: the chain read from storage a page at a time while the previous page hashes.
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    for backend in backends() {
        let (database, audit) = runtime.block_on(async {
            let (database, audit) = fresh_audit(backend).await;
            for batch in envelopes(CHAIN).chunks(BATCH) {
                assert_eq!(audit.append_batch(batch).await.expect("append"), BATCH);
            }
            (database, audit)
        });
        let account = AccountId::parse("acct_bench").expect("an account id");
        group.bench_function(BenchmarkId::new("service_100k", format!("{backend:?}")), |b| {
            b.iter(|| {
                let (verification, _) = runtime.block_on(audit.verify_chain(&account)).expect("verify");
                assert!(verification.is_valid());
                assert_eq!(verification.entries_checked, CHAIN as i64);
            })
        });
        drop(audit);
        drop(database);
    }
    group.finish();
}

criterion_group!(benches, append, consume, verify);
criterion_main!(benches);
