//! Nothing is lost: events written while the broker is down reach the audit chain once it is back,
//! and an audit consumer killed mid-stream resumes without a gap or a duplicate.

use std::{collections::HashSet, time::Duration};

use latchkey_agent_token::AgentToken;
use latchkey_audit::{Audit, verify_entries};
use latchkey_events::EventBus;
use latchkey_server::MeshAuth;
use latchkey_storage::{Backend, Db};
use latchkey_test_support::{NatsServer, TestDatabase, eventually, mesh::TestVault, nats_bus};
use tokio_util::sync::CancellationToken;

use crate::support::{Bus, TestMesh, first_broken_entry};

#[tokio::test]
async fn events_written_while_nats_is_down_reach_the_audit_chain_exactly_once() {
    let mut t = TestMesh::start(Backend::Postgres, Bus::Nats).await;
    t.audit_entries_at_least(&t.key, 2).await;

    t.nats.as_mut().unwrap().stop();
    let mut created = Vec::new();
    for i in 0..10 {
        created.push(
            t.create_key(&t.key, &format!("while-down-{i}")).await["id"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }
    t.nats.as_mut().unwrap().start().await;

    let entries = t.audit_entries_at_least(&t.key, 12).await;
    assert_eq!(entries.len(), 12, "every event once, none twice");
    let ids: HashSet<&str> = entries.iter().map(|e| e["event_id"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), 12);
    let subjects: HashSet<&str> = entries.iter().filter_map(|e| e["subject"].as_str()).collect();
    for id in &created {
        assert!(subjects.contains(id.as_str()), "{id} missing from the chain");
    }
    assert_eq!(first_broken_entry(&t.account_id, &entries), None);
    t.stop().await;
}

/// agent-token writing events, and an audit consumer that is killed (its task aborted, as a crash
/// would) while the stream is flowing, then started again.
async fn audit_consumer_killed_mid_stream(bus_kind: Bus) {
    let agent_db = TestDatabase::postgres().await;
    let audit_db = TestDatabase::postgres().await;
    let bus_db = TestDatabase::sqlite();
    let nats = match bus_kind {
        Bus::Nats => Some(NatsServer::spawn().await),
        Bus::Local => None,
    };
    let bus = match &nats {
        Some(server) => nats_bus(&server.url(), "latchkey").await,
        None => EventBus::local(Db::connect(bus_db.url()).await.unwrap()).await.unwrap(),
    };
    let mesh = MeshAuth::new("test-service-token-0123456789");
    let shutdown = CancellationToken::new();

    let test_vault = TestVault::start(&mesh, &shutdown).await;
    let vault = test_vault.system_secrets(&mesh);
    let agent_token = AgentToken::open(Db::connect(agent_db.url()).await.unwrap(), mesh.clone(), vault)
        .await
        .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let agent_task = tokio::spawn(agent_token.clone().run(listener, bus.clone(), shutdown.clone()));
    let audit = Audit::open(Db::connect(audit_db.url()).await.unwrap(), mesh)
        .await
        .unwrap();

    let (account, _) = agent_token.create_account("Audited", "first").await.unwrap();
    let consumer = tokio::spawn(audit.clone().consume(bus.clone(), shutdown.clone()));
    const KEYS: usize = 150;
    let writer = {
        let agent_token = agent_token.clone();
        let account = account.clone();
        tokio::spawn(async move {
            for i in 0..KEYS {
                agent_token
                    .create_api_key(&account, Some("test"), &format!("k{i}"))
                    .await
                    .unwrap();
            }
        })
    };
    // Kill the consumer once it is part-way through.
    let part_way = eventually(Duration::from_secs(30), || async {
        audit.chain_of(&account).await.unwrap().len() >= 20
    })
    .await;
    assert!(part_way, "the consumer never got going");
    consumer.abort();
    let _ = consumer.await;
    writer.await.unwrap();
    let consumer = tokio::spawn(audit.clone().consume(bus.clone(), shutdown.clone()));

    let expected = KEYS + 2;
    let complete = eventually(Duration::from_secs(60), || async {
        audit.chain_of(&account).await.unwrap().len() >= expected
    })
    .await;
    let chain = audit.chain_of(&account).await.unwrap();
    assert!(complete, "{} of {expected} entries", chain.len());
    assert_eq!(chain.len(), expected, "no duplicate entries");
    let seqs: Vec<i64> = chain.iter().map(|e| e.seq).collect();
    assert_eq!(seqs, (1..=expected as i64).collect::<Vec<_>>(), "no gap");
    let ids: HashSet<&str> = chain.iter().map(|e| e.event_id.as_str()).collect();
    assert_eq!(ids.len(), expected);
    assert_eq!(verify_entries(&chain).first_broken_seq, None);

    shutdown.cancel();
    let _ = consumer.await;
    let _ = agent_task.await;
}

#[tokio::test]
async fn an_audit_consumer_killed_mid_stream_resumes_without_gap_or_duplicate_on_nats() {
    audit_consumer_killed_mid_stream(Bus::Nats).await;
}

#[tokio::test]
async fn an_audit_consumer_killed_mid_stream_resumes_without_gap_or_duplicate_on_the_in_process_bus() {
    audit_consumer_killed_mid_stream(Bus::Local).await;
}
