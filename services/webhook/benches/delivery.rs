//! Delivery throughput: messages already queued (SQLite, as `latchkey dev` keeps them), delivered
//! signed by the worker to a fast in-process HTTP receiver on loopback that answers 204 at once.
//! Each iteration queues 2,000 messages with the worker stopped, then times the worker from start
//! until the receiver has all of them (claim, sign, send, record). Target: ≥ 5,000 deliveries/s.
//!
//! `cargo bench -p latchkey-webhook --bench delivery` (or `make bench`).

// Tests and benchmarks start their own helpers (receivers, fake peers, a service under test) with
// `tokio::spawn` and await or abort the handles themselves; `latchkey_server::Tasks` (which
// clippy.toml makes the only way in the crates' own code) is for what a service runs.
#![allow(clippy::disallowed_methods)]

use std::{
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use latchkey_events::{Envelope, catalogue::TokenIssued};
use latchkey_server::MeshAuth;
use latchkey_storage::Db;
use latchkey_test_support::TestDatabase;
use latchkey_webhook::{EndpointInput, Webhook, WebhookConfig};
use tokio_util::sync::CancellationToken;

const MESSAGES: usize = 2_000;
const ACCOUNT: &str = "acct_bench";

/// A receiver that counts deliveries and answers 204.
async fn start_receiver() -> (String, Arc<AtomicUsize>) {
    let count = Arc::new(AtomicUsize::new(0));
    let counted = count.clone();
    let router = axum::Router::new().fallback(axum::routing::post(move || {
        let counted = counted.clone();
        async move {
            counted.fetch_add(1, Ordering::Relaxed);
            axum::http::StatusCode::NO_CONTENT
        }
    }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hooks", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    (url, count)
}

fn envelopes(count: usize) -> Vec<Envelope> {
    (0..count)
        .map(|n| {
            let event = TokenIssued {
                jti: format!("jti-{n}-{}", uuid::Uuid::now_v7().simple()),
                agent_id: "agt_bench".to_owned(),
                scope: vec!["secrets.read".to_owned()],
                audience: "https://api.example.com".to_owned(),
                expires_at: 1_900_000_000,
                intent: None,
                delegated_from: None,
            };
            Envelope::new("/latchkey/agent-token", ACCOUNT, None, &event)
        })
        .collect()
}

fn delivery(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let database = TestDatabase::sqlite();
    let (service, count) = runtime.block_on(async {
        let (url, count) = start_receiver().await;
        let db = Db::connect(database.url()).await.unwrap();
        let config = WebhookConfig {
            allow_loopback: true,
            poll_interval_ms: 5,
            ..WebhookConfig::default()
        };
        let service = Webhook::open(db, MeshAuth::new("bench-service-token"), config)
            .await
            .unwrap();
        service
            .create_endpoint(
                &latchkey_ids::AccountId::parse(ACCOUNT).unwrap(),
                None,
                EndpointInput {
                    url,
                    events: vec!["token.*".to_owned()],
                    description: None,
                },
            )
            .await
            .unwrap();
        (service, count)
    });

    let mut group = c.benchmark_group("webhook");
    group.throughput(Throughput::Elements(MESSAGES as u64));
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(20));
    group.bench_function("deliver_2000_to_a_fast_local_receiver", |b| {
        b.iter_custom(|iterations| {
            runtime.block_on(async {
                let mut total = Duration::ZERO;
                for _ in 0..iterations {
                    for event in envelopes(MESSAGES) {
                        service.accept(&event).await.unwrap();
                    }
                    let target = count.load(Ordering::Relaxed) + MESSAGES;
                    let stop = CancellationToken::new();
                    let started = Instant::now();
                    let worker = tokio::spawn(service.clone().deliver(stop.clone()));
                    while count.load(Ordering::Relaxed) < target {
                        tokio::time::sleep(Duration::from_micros(200)).await;
                    }
                    total += started.elapsed();
                    // Untimed: let the worker record the last outcomes before it stops.
                    while service.backlog().await.unwrap() > 0 {
                        tokio::time::sleep(Duration::from_millis(1)).await;
                    }
                    stop.cancel();
                    let _ = worker.await;
                }
                total
            })
        });
    });
    group.finish();
}

criterion_group!(benches, delivery);
criterion_main!(benches);
