//! Root key rotation: a new version in the key file, every data key re-wrapped under it, and every
//! secret readable before, during and after, from the serving instance and from fresh ones.

use std::sync::{
    Arc,
    atomic::{AtomicBool, AtomicU64, Ordering},
};

use latchkey_proto::vault::v1 as pb;
use latchkey_storage::sqlx;
use latchkey_test_support::{BACKENDS, mesh::as_account};

use crate::support::{TestVault, account_id, secret};

const ACCOUNTS: usize = 30;

fn value(account: usize) -> String {
    format!("sk-account-{account}-value-{:04}", account * 7)
}

#[tokio::test]
async fn rotation_keeps_every_secret_readable_while_the_vault_serves() {
    for backend in BACKENDS {
        let t = TestVault::open(backend).await;
        for account in 0..ACCOUNTS {
            t.vault
                .put_secrets(
                    &account_id(&format!("acct_{account}")),
                    None,
                    vec![secret("credential/openai", &value(account))],
                )
                .await
                .unwrap();
        }
        let (client, stop) = t.serve().await;

        // Readers and a writer keep going over gRPC for the whole rotation; any failure is counted.
        let rotating = Arc::new(AtomicBool::new(true));
        let (reads, failures) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
        let mut workers = Vec::new();
        for worker in 0..4 {
            let (mut client, rotating, reads, failures) =
                (client.clone(), rotating.clone(), reads.clone(), failures.clone());
            workers.push(tokio::spawn(async move {
                let mut n = worker;
                while rotating.load(Ordering::Relaxed) || n < worker + ACCOUNTS {
                    let account = n % ACCOUNTS;
                    let request = as_account(
                        &format!("acct_{account}"),
                        pb::GetSecretRequest {
                            secret_id: "credential/openai".to_owned(),
                            internal_use: true,
                        },
                    );
                    match client.get_secret(request).await {
                        Ok(response) if response.get_ref().plaintext == value(account).as_bytes() => {}
                        _ => {
                            failures.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                    reads.fetch_add(1, Ordering::Relaxed);
                    n += 1;
                }
            }));
        }
        // New accounts keep arriving during the rotation too.
        let writer = {
            let (mut client, rotating, failures) = (client.clone(), rotating.clone(), failures.clone());
            tokio::spawn(async move {
                let mut n = 0;
                while rotating.load(Ordering::Relaxed) || n < 3 {
                    let request = as_account(
                        &format!("acct_new_{n}"),
                        pb::PutSecretRequest {
                            secret_id: "credential/anthropic".to_owned(),
                            plaintext: format!("sk-ant-new-account-{n:04}").into_bytes(),
                            ..Default::default()
                        },
                    );
                    if client.put_secret(request).await.is_err() {
                        failures.fetch_add(1, Ordering::Relaxed);
                    }
                    n += 1;
                }
                n
            })
        };

        let added = latchkey_vault::add_key_version(&t.key_file).unwrap();
        assert_eq!(added, 2);
        let report = latchkey_vault::rotate(&t.db, &t.source()).await.unwrap();
        assert_eq!(report.root_version, 2);
        assert!(report.rewrapped >= ACCOUNTS as u64, "{report:?}");
        rotating.store(false, Ordering::Relaxed);
        for worker in workers {
            worker.await.unwrap();
        }
        let new_accounts = writer.await.unwrap();
        assert_eq!(
            failures.load(Ordering::Relaxed),
            0,
            "{backend:?}: reads or writes failed during the rotation"
        );
        assert!(reads.load(Ordering::Relaxed) >= (4 * ACCOUNTS) as u64);

        // Accounts created while the rotation ran may have been wrapped under version 1 after its
        // scan: a second pass (what `latchkey vault rotate --no-new-key` does) picks them up.
        latchkey_vault::rotate(&t.db, &t.source()).await.unwrap();
        let (old,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM vault_data_keys WHERE root_version < 2")
            .fetch_one(t.db.pool())
            .await
            .unwrap();
        assert_eq!(old, 0);

        // With version 1 gone from the key file, a fresh instance still opens everything.
        let text = std::fs::read_to_string(&t.key_file).unwrap();
        let without_v1: String = text
            .lines()
            .filter(|line| !line.starts_with("1:"))
            .map(|l| format!("{l}\n"))
            .collect();
        std::fs::write(&t.key_file, without_v1).unwrap();
        let fresh = t.another_instance().await;
        assert_eq!(fresh.root_versions(), vec![2]);
        for account in 0..ACCOUNTS {
            let opened = fresh
                .get_secret(&account_id(&format!("acct_{account}")), "credential/openai", true)
                .await
                .unwrap();
            assert_eq!(opened.plaintext.as_slice(), value(account).as_bytes());
        }
        for n in 0..new_accounts {
            let opened = fresh
                .get_secret(&account_id(&format!("acct_new_{n}")), "credential/anthropic", true)
                .await
                .unwrap();
            assert_eq!(
                opened.plaintext.as_slice(),
                format!("sk-ant-new-account-{n:04}").as_bytes()
            );
        }
        stop.cancel();
    }
}

#[tokio::test]
async fn a_vault_that_never_saw_the_new_version_reloads_the_key_file_when_it_meets_it() {
    for backend in BACKENDS {
        let t = TestVault::open(backend).await;
        t.vault
            .put_secrets(
                &account_id("acct_test"),
                None,
                vec![secret("credential/openai", "sk-before-rotation-0001")],
            )
            .await
            .unwrap();
        // A second instance that has loaded version 1 only and cached nothing yet.
        let other = t.another_instance().await;
        assert_eq!(other.root_versions(), vec![1]);
        latchkey_vault::add_key_version(&t.key_file).unwrap();
        latchkey_vault::rotate(&t.db, &t.source()).await.unwrap();
        let opened = other
            .get_secret(&account_id("acct_test"), "credential/openai", true)
            .await
            .unwrap();
        assert_eq!(opened.plaintext.as_slice(), b"sk-before-rotation-0001");
        assert_eq!(other.root_versions(), vec![1, 2]);
    }
}
