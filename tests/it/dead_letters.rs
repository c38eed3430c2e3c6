//! `latchkey events dead-letters list|retry`, the real binary on a `latchkey dev` data directory
//! (SQLite) and on `database.url` (PostgreSQL): it lists a relay's and a consumer's dead letters,
//! and retry puts the relay's back on its outbox and hands the consumer's to its consumer again.

use std::{
    process::Output,
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use latchkey_events::{
    DeadLetters, Envelope, EventBus, EventFilter, EventsConfig, Outbox, catalogue::AccountCreated, run_consumer,
    run_relay,
};
use latchkey_storage::{Db, sqlite_url, sqlx};
use latchkey_test_support::{TestDatabase, eventually};

const BINARY: &str = env!("CARGO_BIN_EXE_latchkey");

/// Where the dead letters live, as the CLI is told.
enum Place {
    /// A `latchkey dev` data directory: the bus's in events.db, agent-token's in agent-token.db.
    DataDir(tempfile::TempDir),
    /// One PostgreSQL database (`database.url`) holding both.
    Url(TestDatabase),
}

impl Place {
    fn bus_url(&self) -> String {
        match self {
            Self::DataDir(dir) => sqlite_url(&dir.path().join("events.db")),
            Self::Url(db) => db.url().to_owned(),
        }
    }

    fn outbox_url(&self) -> String {
        match self {
            Self::DataDir(dir) => sqlite_url(&dir.path().join("agent-token.db")),
            Self::Url(db) => db.url().to_owned(),
        }
    }

    /// Runs `latchkey events dead-letters <args>` against this place. Awaited, never waited on
    /// blocking: the test's own tasks (its relay and consumer, their database connections) must
    /// go on meanwhile, or one of them holding a lock the CLI needs (a migration's) stalls both.
    async fn cli(&self, args: &[&str]) -> Output {
        let mut command = tokio::process::Command::new(BINARY);
        command
            .args(["events", "dead-letters"])
            .args(args)
            .env("LATCHKEY__TELEMETRY__LOG_FILTER", "warn");
        match self {
            Self::DataDir(dir) => command.arg("--data-dir").arg(dir.path()),
            Self::Url(db) => command.env("LATCHKEY__DATABASE__URL", db.url()),
        };
        command.kill_on_drop(true);
        tokio::time::timeout(Duration::from_secs(120), command.output())
            .await
            .expect("latchkey events dead-letters ends within two minutes")
            .expect("run latchkey events dead-letters")
    }
}

fn stdout(output: &Output) -> String {
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8_lossy(&output.stdout).into_owned()
}

async fn lists_and_retries(place: Place) {
    let bus_db = Db::connect(&place.bus_url()).await.unwrap();
    let bus = EventBus::local(bus_db.clone())
        .await
        .unwrap()
        .with_config(EventsConfig {
            consumer_max_attempts: 1,
            ..EventsConfig::default()
        });
    let consumer_letters = DeadLetters::open(bus_db).await.unwrap();

    // A consumer's dead letter: its handler fails on `poison` until healed.
    let poison = Envelope::new(
        "/latchkey/agent-token",
        "acct_cli",
        None,
        &AccountCreated {
            account_id: "acct_cli".into(),
            name: "poison".into(),
        },
    );
    let (healed, handled) = (Arc::new(AtomicBool::new(false)), Arc::new(Mutex::new(Vec::new())));
    let handler = {
        let (poison, healed, handled) = (poison.id.clone(), healed.clone(), handled.clone());
        move |event: Envelope| {
            let fails = event.id == poison && !healed.load(Ordering::SeqCst);
            if !fails {
                handled.lock().unwrap().push(event.id);
            }
            async move {
                if fails {
                    Err("simulated handler failure")
                } else {
                    Ok(())
                }
            }
        }
    };
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let consumer = tokio::spawn(run_consumer(
        bus.clone(),
        "cli-test".into(),
        EventFilter::all(),
        handler,
        async move {
            let _ = stopped.await;
        },
    ));
    bus.publish(std::slice::from_ref(&poison)).await.unwrap();
    assert!(
        eventually(Duration::from_secs(60), || async {
            consumer_letters.list().await.unwrap().len() == 1
        })
        .await,
        "the poison event was never dead-lettered"
    );

    // A relay's dead letter: a row in agent-token's outbox that does not decode.
    let outbox = Outbox::open(Db::connect(&place.outbox_url()).await.unwrap(), "/latchkey/agent-token")
        .await
        .unwrap();
    sqlx::query(
        "INSERT INTO latchkey_outbox (source, event_id, account, event_type, payload, created_at) \
         VALUES ('/latchkey/agent-token', 'evt_undecodable', 'acct_cli', 'agent.created', $1, 0)",
    )
    .bind(b"{not json".to_vec())
    .execute(outbox.db().pool())
    .await
    .unwrap();
    run_relay(outbox.clone(), bus.clone(), async {}).await;
    let relay_letters = DeadLetters::open(outbox.db().clone()).await.unwrap();

    let consumer_letter = consumer_letters
        .list()
        .await
        .unwrap()
        .into_iter()
        .find(|letter| letter.location == "consumer:cli-test")
        .expect("the consumer's dead letter");
    let relay_letter = relay_letters
        .list()
        .await
        .unwrap()
        .into_iter()
        .find(|letter| letter.event_id == "evt_undecodable")
        .expect("the relay's dead letter");
    let listed = stdout(&place.cli(&["list"]).await);
    for expected in [
        consumer_letter.id.as_str(),
        poison.id.as_str(),
        "account.created",
        "acct_cli",
        "consumer:cli-test",
        "simulated handler failure",
        relay_letter.id.as_str(),
        "agent.created",
        "relay:/latchkey/agent-token",
        "undecodable outbox row",
    ] {
        assert!(listed.contains(expected), "{expected} not in\n{listed}");
    }

    let missing = place.cli(&["retry", "dl_nosuchletter0000"]).await;
    assert!(!missing.status.success());
    assert!(String::from_utf8_lossy(&missing.stderr).contains("no dead letter dl_nosuchletter0000"));

    healed.store(true, Ordering::SeqCst);
    let retried = stdout(&place.cli(&["retry", "--all"]).await);
    assert!(
        retried.contains(&format!(
            "{}: back on the outbox of /latchkey/agent-token",
            relay_letter.id
        )),
        "{retried}"
    );
    assert!(
        retried.contains(&format!("{}: up for consumer cli-test", consumer_letter.id)),
        "{retried}"
    );
    assert_eq!(
        outbox.pending().await.unwrap(),
        1,
        "the relay's row is back on its outbox"
    );
    assert!(
        relay_letters
            .list()
            .await
            .unwrap()
            .iter()
            .all(|letter| letter.event_id != "evt_undecodable")
    );
    assert!(
        eventually(Duration::from_secs(60), || async {
            handled.lock().unwrap().contains(&poison.id) && consumer_letters.list().await.unwrap().is_empty()
        })
        .await,
        "the retried event was never handled"
    );
    let _ = stop.send(());
    consumer.await.unwrap();
}

#[tokio::test]
async fn the_cli_lists_and_retries_dead_letters_of_a_dev_data_directory() {
    lists_and_retries(Place::DataDir(tempfile::tempdir().unwrap())).await;
}

#[tokio::test]
async fn the_cli_lists_and_retries_dead_letters_of_a_postgres_database() {
    lists_and_retries(Place::Url(TestDatabase::postgres().await)).await;
}
