//! The verifiable audit log, as an account owner uses it: filter the log, export it and verify the
//! export offline with `latchkey audit verify`, keep a signed checkpoint, and catch both a tampered
//! row and a history rewritten with recomputed hashes. On SQLite with the in-process bus and on
//! PostgreSQL with NATS.

use std::{path::Path, time::Duration};

use latchkey::cli::Service;
use latchkey_audit::{Audit, ChainEntry, Checkpoint, entry_hash};
use latchkey_events::{Envelope, catalogue::ApiKeyCreated};
use latchkey_ids::AccountId;
use latchkey_server::MeshAuth;
use latchkey_storage::{Backend, Db, sqlx};
use latchkey_test_support::{TestDatabase, eventually, mesh::TestVault};
use reqwest::Method;
use serde_json::{Value, json};
use tokio::process::Command;

use crate::support::{Bus, TestMesh};

const BINARY: &str = env!("CARGO_BIN_EXE_latchkey");
const BOTH: [(Backend, Bus); 2] = [(Backend::Sqlite, Bus::Local), (Backend::Postgres, Bus::Nats)];

async fn get(t: &TestMesh, path: &str, key: &str) -> (u16, Value) {
    let response = t.as_key(Method::GET, path, key).send().await.expect(path);
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn text(t: &TestMesh, path: &str, key: &str) -> String {
    let response = t.as_key(Method::GET, path, key).send().await.expect(path);
    assert_eq!(response.status(), 200, "{path}");
    response.text().await.expect("body")
}

/// Creates `n` API keys (an `api_key.created` event each) and waits until the chain holds `total`.
async fn with_events(t: &TestMesh, key: &str, n: usize, total: usize) -> Vec<Value> {
    for i in 0..n {
        t.create_key(key, &format!("key-{i}")).await;
    }
    t.audit_entries_at_least(key, total).await
}

async fn sign_checkpoint(t: &TestMesh, key: &str) -> Value {
    let response = t
        .as_key(Method::POST, "/v1/audit/checkpoints", key)
        .send()
        .await
        .expect("POST /v1/audit/checkpoints");
    assert_eq!(response.status(), 201);
    response.json().await.expect("json")
}

async fn audit_db(t: &TestMesh) -> Db {
    Db::connect(&t.mesh.context.database.url_for(Service::Audit))
        .await
        .expect("the audit database")
}

/// Runs `latchkey audit verify` with `args`; answers whether it exited 0, and its JSON report.
/// Asynchronously: with `--url` the command calls the mesh this test's runtime serves.
async fn verify_command(args: &[&str]) -> (bool, Value) {
    let output = Command::new(BINARY)
        .args(["audit", "verify"])
        .args(args)
        .output()
        .await
        .expect("run latchkey audit verify");
    let report = serde_json::from_slice(&output.stdout).unwrap_or_else(|_| {
        panic!(
            "no JSON report: {}\n{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        )
    });
    (output.status.success(), report)
}

fn write(dir: &Path, name: &str, contents: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, contents).expect("write");
    path.display().to_string()
}

#[tokio::test]
async fn the_log_filters_by_type_prefix_actor_subject_and_time_and_pages_either_way() {
    for (backend, bus) in BOTH {
        let t = TestMesh::start(backend, bus).await;
        let created = t.create_key(&t.key, "filtered").await;
        let created_id = created["id"].as_str().unwrap().to_owned();
        let entries = with_events(&t, &t.key, 4, 7).await;
        let actor = entries
            .iter()
            .find(|e| e["subject"] == created_id.as_str())
            .and_then(|e| e["actor"].as_str())
            .unwrap()
            .to_owned();

        let (status, page) = get(&t, "/v1/audit?type=api_key.*&order=oldest&limit=500", &t.key).await;
        assert_eq!(status, 200);
        let data = page["data"].as_array().unwrap();
        assert!(data.len() >= 6, "every api_key.* entry: {page}");
        assert!(data.iter().all(|e| e["type"].as_str().unwrap().starts_with("api_key.")));
        assert!(data.windows(2).all(|w| w[0]["seq"].as_i64() < w[1]["seq"].as_i64()));

        let (_, page) = get(&t, &format!("/v1/audit?subject={created_id}"), &t.key).await;
        let data = page["data"].as_array().unwrap();
        assert_eq!(data.len(), 1);
        assert_eq!(data[0]["subject"], created_id.as_str());

        let (_, page) = get(&t, &format!("/v1/audit?actor={actor}&order=newest"), &t.key).await;
        let data = page["data"].as_array().unwrap();
        assert!(!data.is_empty() && data.iter().all(|e| e["actor"] == actor.as_str()));
        assert!(data.windows(2).all(|w| w[0]["seq"].as_i64() > w[1]["seq"].as_i64()));

        // A window in the future holds nothing; one around now holds everything.
        let (_, page) = get(&t, "/v1/audit?from=2100-01-01T00:00:00Z", &t.key).await;
        assert_eq!(page["data"].as_array().unwrap().len(), 0);
        let (_, page) = get(
            &t,
            "/v1/audit?from=2020-01-01T00:00:00Z&to=2100-01-01T00:00:00Z&limit=500",
            &t.key,
        )
        .await;
        assert_eq!(page["data"].as_array().unwrap().len(), entries.len());

        // Cursor pagination with a filter walks every match once.
        let mut seen = Vec::new();
        let mut path = "/v1/audit?type=api_key.created&limit=2".to_owned();
        loop {
            let (_, page) = get(&t, &path, &t.key).await;
            seen.extend(
                page["data"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|e| e["seq"].as_i64().unwrap()),
            );
            match page["next_cursor"].as_str() {
                Some(cursor) => path = format!("/v1/audit?type=api_key.created&limit=2&cursor={cursor}"),
                None => break,
            }
        }
        let created_count = entries.iter().filter(|e| e["type"] == "api_key.created").count();
        assert_eq!(seen.len(), created_count);

        // Bad filters name the parameter and change nothing.
        for (query, field) in [
            ("type=token.nope", "type"),
            ("from=last-week", "from"),
            ("to=2026-01-01", "to"),
            ("order=sideways", "order"),
        ] {
            let (status, problem) = get(&t, &format!("/v1/audit?{query}"), &t.key).await;
            assert_eq!(status, 400, "{query}");
            assert_eq!(problem["code"], "VALIDATION_ERROR");
            assert_eq!(problem["errors"][0]["field"], field, "{query}");
        }
        t.stop().await;
    }
}

#[tokio::test]
async fn a_tampered_row_is_named_by_the_api_the_command_and_an_offline_export() {
    for (backend, bus) in BOTH {
        let t = TestMesh::start(backend, bus).await;
        let entries = with_events(&t, &t.key, 4, 6).await;
        let (status, verification) = get(&t, "/v1/audit/verify", &t.key).await;
        assert_eq!(status, 200);
        assert_eq!(verification["valid"], true, "{verification}");
        assert_eq!(verification["entries_checked"], entries.len() as i64);
        assert_eq!(verification["first_broken_seq"], Value::Null);
        assert_eq!(verification["head"]["seq"], entries.len() as i64);
        assert_eq!(verification["head"]["hash"], entries.last().unwrap()["hash"]);

        // The export verifies offline, in every format, with no server involved.
        let dir = tempfile::tempdir().unwrap();
        let lines = text(&t, "/v1/audit/export?format=jsonl", &t.key).await;
        let csv = text(&t, "/v1/audit/export?format=csv", &t.key).await;
        let document = text(&t, "/v1/audit/export?format=json", &t.key).await;
        let json_file = write(dir.path(), "audit.jsonl", &lines);
        let csv_file = write(dir.path(), "audit.csv", &csv);
        let document_file = write(dir.path(), "audit.json", &document);
        let parsed: Value = serde_json::from_str(&document).expect("one JSON document");
        let pretty_file = write(
            dir.path(),
            "pretty.json",
            &serde_json::to_string_pretty(&parsed).unwrap(),
        );
        for file in [&json_file, &csv_file, &document_file, &pretty_file] {
            let (ok, report) = verify_command(&["--file", file]).await;
            assert!(ok, "{report}");
            assert_eq!(report["entries_checked"], entries.len() as i64);
            assert_eq!(report["account_id"], t.account_id.as_str());
        }

        // An edited export does not: the entry edited is named.
        let edited: Vec<String> = lines
            .lines()
            .map(|line| {
                if line.contains("\"seq\":3,") {
                    line.replace("\"name\":\"key-", "\"name\":\"evil-")
                } else {
                    line.to_owned()
                }
            })
            .collect();
        assert_ne!(edited.join("\n"), lines.trim_end(), "the edit took");
        let edited_file = write(dir.path(), "edited.jsonl", &edited.join("\n"));
        let (ok, report) = verify_command(&["--file", &edited_file]).await;
        assert!(!ok);
        assert_eq!(report["valid"], false);
        assert_eq!(report["first_broken_seq"], 3);
        let edited_document = document.replacen("\"name\":\"key-", "\"name\":\"evil-", 1);
        assert_ne!(edited_document, document, "the edit took");
        let edited_file = write(dir.path(), "edited.json", &edited_document);
        let (ok, report) = verify_command(&["--file", &edited_file]).await;
        assert!(!ok);
        assert_eq!(report["valid"], false);
        assert!(report["first_broken_seq"].is_i64(), "{report}");

        // Someone with database access changes one stored row.
        let db = audit_db(&t).await;
        sqlx::query("UPDATE audit_entries SET data = $1 WHERE account_id = $2 AND seq = 4")
            .bind(r#"{"key_id":"key_forged","last4":"0000","name":"forged","prefix":"lk_"}"#)
            .bind(&t.account_id)
            .execute(db.pool())
            .await
            .unwrap();
        let (_, verification) = get(&t, "/v1/audit/verify", &t.key).await;
        assert_eq!(verification["valid"], false);
        assert_eq!(verification["first_broken_seq"], 4, "{verification}");
        let key = t.key.clone();
        let (ok, report) = verify_command(&["--url", &t.base, "--key", &key]).await;
        assert!(!ok);
        assert_eq!(report["first_broken_seq"], 4, "{report}");
        t.stop().await;
    }
}

/// Rewrites `account`'s chain from `from_seq` on: entry `from_seq` gets new data and every hash from
/// there is recomputed, so the chain verifies on its own.
async fn rewrite_history(db: &Db, account: &str, from_seq: i64) {
    type Row = (i64, String, String, i64, String, String, String, String, String);
    let rows: Vec<Row> = sqlx::query_as(
        "SELECT seq, event_id, event_type, time_ms, actor, subject, decision_id, data, prev_hash \
         FROM audit_entries WHERE account_id = $1 AND seq >= $2 ORDER BY seq",
    )
    .bind(account)
    .bind(from_seq)
    .fetch_all(db.pool())
    .await
    .unwrap();
    let mut prev = rows[0].8.clone();
    for (seq, event_id, event_type, time_ms, actor, subject, decision_id, data, _) in rows {
        let mut data: Value = serde_json::from_str(&data).unwrap();
        if seq == from_seq {
            data["name"] = json!("rewritten");
        }
        let entry = ChainEntry {
            account_id: account.to_owned(),
            seq,
            event_id,
            event_type,
            time_ms,
            actor,
            subject,
            decision_id,
            data: data.clone(),
            prev_hash: prev.clone(),
            hash: String::new(),
        };
        let hash = entry_hash(&entry, &prev);
        sqlx::query("UPDATE audit_entries SET data = $1, prev_hash = $2, hash = $3 WHERE account_id = $4 AND seq = $5")
            .bind(data.to_string())
            .bind(&prev)
            .bind(&hash)
            .bind(account)
            .bind(seq)
            .execute(db.pool())
            .await
            .unwrap();
        prev = hash;
    }
}

#[tokio::test]
async fn a_history_rewritten_with_recomputed_hashes_verifies_alone_but_not_against_a_kept_checkpoint() {
    for (backend, bus) in BOTH {
        let t = TestMesh::start(backend, bus).await;
        let entries = with_events(&t, &t.key, 4, 6).await;
        // The owner keeps a signed checkpoint of the head, and the JWKS that verifies it.
        let checkpoint = sign_checkpoint(&t, &t.key).await;
        assert_eq!(checkpoint["seq"], entries.len() as i64);
        assert_eq!(checkpoint["hash"], entries.last().unwrap()["hash"]);
        let (_, latest) = get(&t, "/v1/audit/checkpoints/latest", &t.key).await;
        assert_eq!(latest, checkpoint);
        let (status, jwks) = get(&t, "/v1/audit/checkpoints/jwks.json", "").await;
        assert_eq!(status, 200);
        let keys = jwks["keys"].as_array().unwrap().clone();
        let kept: Checkpoint = serde_json::from_value(checkpoint.clone()).unwrap();
        assert!(kept.kid.starts_with("audit-"));
        kept.verify_signature(&keys)
            .expect("the checkpoint verifies with the published checkpoint keys");
        // The token JWKS does not carry it: a token verifier never trusts a checkpoint key.
        let (_, token_jwks) = get(&t, "/.well-known/jwks.json", "").await;
        assert_eq!(
            kept.verify_signature(token_jwks["keys"].as_array().unwrap()),
            Err(latchkey_audit::CheckpointError::UnknownKey(kept.kid.clone()))
        );
        let dir = tempfile::tempdir().unwrap();
        let checkpoint_file = write(dir.path(), "checkpoint.json", &checkpoint.to_string());
        let jwks_file = write(dir.path(), "jwks.json", &jwks.to_string());
        let before = write(dir.path(), "before.jsonl", &text(&t, "/v1/audit/export", &t.key).await);
        let (ok, report) = verify_command(&[
            "--file",
            &before,
            "--checkpoint",
            &checkpoint_file,
            "--jwks",
            &jwks_file,
        ])
        .await;
        assert!(ok, "{report}");
        assert_eq!(report["checkpoint_matches"], true);

        // An attacker rewrites entry 3 and recomputes every hash after it.
        rewrite_history(&audit_db(&t).await, &t.account_id, 3).await;
        let after = write(dir.path(), "after.jsonl", &text(&t, "/v1/audit/export", &t.key).await);
        let (ok, report) = verify_command(&["--file", &after]).await;
        assert!(ok, "on its own, the rewritten chain verifies: {report}");

        // The kept checkpoint catches it, offline and live, and so does the service's own record.
        let (ok, report) =
            verify_command(&["--file", &after, "--checkpoint", &checkpoint_file, "--jwks", &jwks_file]).await;
        assert!(!ok);
        assert_eq!(report["checkpoint_matches"], false, "{report}");
        let key = t.key.clone();
        let (ok, report) = verify_command(&["--url", &t.base, "--key", &key, "--checkpoint", &checkpoint_file]).await;
        assert!(!ok);
        assert_eq!(report["checkpoint_matches"], false, "{report}");
        let (_, verification) = get(&t, "/v1/audit/verify", &t.key).await;
        assert_eq!(verification["valid"], false);
        assert_eq!(verification["first_broken_seq"], Value::Null);
        // The checkpoint kept above, or one the service signed on its own after entry 3.
        let contradicted = verification["first_contradicted_checkpoint_seq"]
            .as_i64()
            .unwrap_or_default();
        assert!(
            (3..=checkpoint["seq"].as_i64().unwrap()).contains(&contradicted),
            "{verification}"
        );

        // A forged checkpoint is refused before any comparison.
        let mut forged = checkpoint.clone();
        forged["hash"] = json!("ab".repeat(32));
        let forged_file = write(dir.path(), "forged.json", &forged.to_string());
        let output = Command::new(BINARY)
            .args([
                "audit",
                "verify",
                "--file",
                &after,
                "--checkpoint",
                &forged_file,
                "--jwks",
                &jwks_file,
            ])
            .output()
            .await
            .unwrap();
        assert!(!output.status.success());
        assert!(String::from_utf8_lossy(&output.stderr).contains("signature"));
        t.stop().await;
    }
}

#[tokio::test]
async fn accounts_see_only_their_own_log_export_and_checkpoints() {
    for (backend, bus) in BOTH {
        let t = TestMesh::start(backend, bus).await;
        let (other_account, other_key) = t.mesh.create_account("Second account").await.unwrap();
        let mine = with_events(&t, &t.key, 3, 5).await;
        let theirs = with_events(&t, &other_key, 1, 3).await;
        sign_checkpoint(&t, &t.key).await;
        sign_checkpoint(&t, &other_key).await;

        let export = text(&t, "/v1/audit/export", &other_key).await;
        let rows: Vec<Value> = export.lines().map(|line| serde_json::from_str(line).unwrap()).collect();
        assert_eq!(rows.len(), theirs.len());
        assert!(rows.iter().all(|row| row["account_id"] == other_account.as_str()));
        assert!(!export.contains(&t.account_id));
        let csv = text(&t, "/v1/audit/export?format=csv", &t.key).await;
        assert!(!csv.contains(&other_account));

        let (_, checkpoints) = get(&t, "/v1/audit/checkpoints", &other_key).await;
        let data = checkpoints["data"].as_array().unwrap();
        assert!(
            data.iter().all(|c| c["account_id"] == other_account.as_str()),
            "{checkpoints}"
        );
        assert_eq!(data[0]["seq"], theirs.len() as i64);

        let (_, verification) = get(&t, "/v1/audit/verify", &other_key).await;
        assert_eq!(verification["entries_checked"], theirs.len() as i64);
        assert!(!mine.is_empty());
        t.stop().await;
    }
}

/// A service of `t`'s account with `users` users; answers the service's key.
async fn service_with_users(t: &TestMesh, users: usize) -> String {
    let key = t.service_key(&t.key, "acme", "app", json!({})).await;
    for n in 0..users {
        t.created(
            &key,
            "/api/service/users",
            json!({ "email": format!("user{n}@example.com") }),
        )
        .await;
    }
    key
}

#[tokio::test]
async fn analytics_count_the_services_events_by_type_and_day() {
    for (backend, bus) in BOTH {
        let t = TestMesh::start(backend, bus).await;
        with_events(&t, &t.key, 3, 5).await;
        let key = service_with_users(&t, 4).await;
        let analytics = latchkey_test_support::read_until(
            std::time::Duration::from_secs(30),
            || async { get(&t, "/api/service/analytics", &key).await.1 },
            |analytics| analytics["events_by_type"]["user.created"] == 4,
        )
        .await;
        assert_eq!(analytics["events_by_type"]["user.created"], 4, "{analytics}");
        assert!(
            analytics["events_by_type"].get("api_key.created").is_none(),
            "the account's own events are not the service's: {analytics}"
        );
        // service.created and service_key.created are the service's too.
        assert_eq!(analytics["total_events"], 6, "{analytics}");
        let today = chrono::Utc::now().format("%Y-%m-%d").to_string();
        let days = analytics["daily"].as_array().unwrap();
        let last = days.last().unwrap();
        assert_eq!(last["date"], today.as_str());
        assert_eq!(last["events_by_type"]["user.created"], 4);
        let (_, empty) = get(
            &t,
            "/api/service/analytics?from=2020-01-01T00:00:00Z&to=2020-02-01T00:00:00Z",
            &key,
        )
        .await;
        assert_eq!(empty["total_events"], 0);
        assert_eq!(empty["daily"], json!([]));
        let (status, problem) = get(
            &t,
            "/api/service/analytics?from=2026-02-01T00:00:00Z&to=2026-01-01T00:00:00Z",
            &key,
        )
        .await;
        assert_eq!(status, 400);
        assert_eq!(problem["errors"][0]["field"], "from");
        t.stop().await;
    }
}

#[tokio::test]
async fn ten_thousand_events_in_a_burst_all_land_in_the_chain() {
    for (backend, bus) in BOTH {
        let t = TestMesh::start(backend, bus).await;
        let before = t.audit_entries_at_least(&t.key, 2).await.len() as i64;
        let events: Vec<Envelope> = (0..10_000)
            .map(|i| {
                let event = ApiKeyCreated {
                    key_id: format!("key_burst_{i}"),
                    name: format!("burst {i}"),
                    prefix: "lk_".to_owned(),
                    last4: "0000".to_owned(),
                };
                Envelope::new("/latchkey/test", &t.account_id, Some("system"), &event)
            })
            .collect();
        for batch in events.chunks(500) {
            t.mesh.context.bus.publish(batch).await.expect("publish");
        }
        let expected = before + 10_000;
        let landed = eventually(Duration::from_secs(300), || async {
            get(&t, "/v1/audit?limit=1", &t.key).await.1["data"][0]["seq"].as_i64() >= Some(expected)
        })
        .await;
        assert!(landed, "not every event reached the chain");
        let (_, verification) = get(&t, "/v1/audit/verify", &t.key).await;
        assert_eq!(verification["valid"], true);
        assert_eq!(verification["entries_checked"], expected, "no event twice");
        t.stop().await;
    }
}

fn envelope(account: &str, i: usize) -> Envelope {
    let event = ApiKeyCreated {
        key_id: format!("key_{i}"),
        name: format!("n{i}"),
        prefix: "lk_".to_owned(),
        last4: "0000".to_owned(),
    };
    Envelope::new("/latchkey/test", account, Some("system"), &event)
}

#[tokio::test]
async fn an_export_reads_the_chain_a_page_at_a_time_as_it_is_consumed() {
    use futures::StreamExt;
    for backend in [Backend::Sqlite, Backend::Postgres] {
        let db = TestDatabase::new(backend).await;
        let audit = Audit::open(
            Db::connect(db.url()).await.unwrap(),
            MeshAuth::new("t-0123456789abcdef"),
        )
        .await
        .unwrap()
        .with_export_page_size(100);
        let events: Vec<Envelope> = (0..350).map(|i| envelope("acct_pages", i)).collect();
        assert_eq!(audit.append_batch(&events).await.unwrap(), 350);

        let mut export = Box::pin(audit.export(&AccountId::parse("acct_pages").unwrap()));
        let first = export.next().await.unwrap().unwrap();
        assert_eq!(first.seq, 1);
        assert_eq!(audit.pages_read(), 1, "only the first page is read for the first entry");
        // An entry appended while the export runs is in a page not yet read, so it is exported too:
        // an export that loaded the chain up front would miss it.
        audit.append(&envelope("acct_pages", 999)).await.unwrap();
        let rest: Vec<_> = export.collect().await;
        assert_eq!(rest.len(), 350);
        assert!(rest.iter().all(Result::is_ok));
        assert_eq!(audit.pages_read(), 4, "351 entries are 4 pages of 100");
    }
}

#[tokio::test]
async fn moved_chains_get_a_signed_checkpoint_each_interval_and_still_ones_do_not() {
    for backend in [Backend::Sqlite, Backend::Postgres] {
        let db = TestDatabase::new(backend).await;
        let mesh = MeshAuth::new("t-0123456789abcdef");
        let shutdown = tokio_util::sync::CancellationToken::new();
        let test_vault = TestVault::start(&mesh, &shutdown).await;
        let vault = test_vault.system_secrets(&mesh);
        let audit = Audit::open(Db::connect(db.url()).await.unwrap(), mesh)
            .await
            .unwrap()
            .with_vault(vault)
            .with_checkpoint_interval(Duration::from_millis(50));
        audit.open_checkpoint_keys().await.unwrap();
        let (a, b) = (AccountId::parse("acct_a").unwrap(), AccountId::parse("acct_b").unwrap());
        audit.append(&envelope("acct_a", 1)).await.unwrap();
        audit.append(&envelope("acct_b", 2)).await.unwrap();
        let signer = tokio::spawn(audit.clone().sign_checkpoints_periodically(shutdown.clone()));
        let both = eventually(Duration::from_secs(10), || async {
            !audit.checkpoints(&a, 10, None).await.unwrap().0.is_empty()
                && !audit.checkpoints(&b, 10, None).await.unwrap().0.is_empty()
        })
        .await;
        assert!(both, "both chains got a checkpoint");

        audit.append(&envelope("acct_a", 3)).await.unwrap();
        let moved = eventually(Duration::from_secs(10), || async {
            audit.checkpoints(&a, 10, None).await.unwrap().0.first().map(|c| c.seq) == Some(2)
        })
        .await;
        assert!(moved, "the moved chain got a new checkpoint");
        // A pass that finds nothing moved signs nothing.
        assert_eq!(audit.take_checkpoints().await.unwrap(), 0);
        assert_eq!(audit.checkpoints(&b, 10, None).await.unwrap().0.len(), 1);
        let keys = audit.checkpoint_jwks();
        for checkpoint in audit.checkpoints(&a, 10, None).await.unwrap().0 {
            checkpoint.verify_signature(&keys).unwrap();
        }
        shutdown.cancel();
        signer.await.unwrap();
    }
}
