//! Writing, reading, versioning and removing secrets; write-only; validation; credential events.

use latchkey_proto::vault::v1 as pb;
use latchkey_storage::sqlx;
use latchkey_test_support::{BACKENDS, mesh::as_account};
use latchkey_vault::VaultError;

use crate::support::{TestVault, account_id, secret};

#[tokio::test]
async fn a_secret_is_stored_sealed_and_opens_at_its_latest_version() {
    for backend in BACKENDS {
        let t = TestVault::open(backend).await;
        let first = t
            .vault
            .put_secrets(
                &account_id("acct_1"),
                None,
                vec![secret("credential/openai", "sk-first-key-0001")],
            )
            .await
            .unwrap();
        assert_eq!((first[0].version, first[0].last4.as_str()), (1, "0001"));
        let second = t
            .vault
            .put_secrets(
                &account_id("acct_1"),
                None,
                vec![secret("credential/openai", "sk-second-key-0002")],
            )
            .await
            .unwrap();
        assert_eq!(second[0].version, 2);
        assert_eq!(second[0].created_at_ms, first[0].created_at_ms);

        let opened = t
            .vault
            .get_secret(&account_id("acct_1"), "credential/openai", false)
            .await
            .unwrap();
        assert_eq!(opened.plaintext.as_slice(), b"sk-second-key-0002");
        assert_eq!(opened.metadata.version, 2);
        assert!(!format!("{opened:?}").contains("sk-second"), "Debug shows no plaintext");

        // What is stored is ciphertext: the plaintext is nowhere in the row.
        let (ciphertext,): (Vec<u8>,) =
            sqlx::query_as("SELECT ciphertext FROM vault_secrets WHERE account_id = 'acct_1'")
                .fetch_one(t.db.pool())
                .await
                .unwrap();
        assert!(!ciphertext.windows(6).any(|w| w == b"second"));

        t.vault
            .delete_secret(&account_id("acct_1"), None, "credential/openai")
            .await
            .unwrap();
        assert!(matches!(
            t.vault
                .get_secret(&account_id("acct_1"), "credential/openai", false)
                .await,
            Err(VaultError::NotFound)
        ));
        assert!(matches!(
            t.vault
                .delete_secret(&account_id("acct_1"), None, "credential/openai")
                .await,
            Err(VaultError::NotFound)
        ));
    }
}

#[tokio::test]
async fn compare_and_swap_writes_only_over_the_expected_version() {
    for backend in BACKENDS {
        let t = TestVault::open(backend).await;
        let (mut client, stop) = t.serve().await;
        let put = |expected: Option<u64>, value: &str| pb::PutSecretRequest {
            secret_id: "connection/con_1".to_owned(),
            plaintext: value.as_bytes().to_vec(),
            write_only: false,
            expected_version: expected,
        };
        let created = client
            .put_secret(as_account("acct_test", put(Some(0), "{\"v\":1}")))
            .await
            .unwrap();
        assert_eq!(created.into_inner().secret.unwrap().version, 1);
        let again = client
            .put_secret(as_account("acct_test", put(Some(0), "{\"v\":9}")))
            .await
            .unwrap_err();
        assert_eq!(again.code(), tonic::Code::FailedPrecondition);
        let stale = client
            .put_secret(as_account("acct_test", put(Some(5), "{\"v\":9}")))
            .await
            .unwrap_err();
        assert_eq!(stale.code(), tonic::Code::FailedPrecondition);
        client
            .put_secret(as_account("acct_test", put(Some(1), "{\"v\":2}")))
            .await
            .unwrap();

        // Many writers racing from version 2: exactly one wins, the others are told to retry.
        let mut racers = Vec::new();
        for n in 0..12 {
            let mut client = client.clone();
            let request = put(Some(2), &format!("{{\"v\":\"racer{n}\"}}"));
            racers.push(tokio::spawn(async move {
                client.put_secret(as_account("acct_test", request)).await
            }));
        }
        let mut won = 0;
        for racer in racers {
            match racer.await.unwrap() {
                Ok(_) => won += 1,
                Err(status) => assert_eq!(status.code(), tonic::Code::FailedPrecondition),
            }
        }
        assert_eq!(won, 1, "{backend:?}");
        let current = client
            .get_secret(as_account(
                "acct_test",
                pb::GetSecretRequest {
                    secret_id: "connection/con_1".to_owned(),
                    internal_use: true,
                },
            ))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(current.secret.unwrap().version, 3);
        assert!(String::from_utf8(current.plaintext).unwrap().contains("racer"));
        stop.cancel();
    }
}

#[tokio::test]
async fn a_write_only_secret_opens_only_for_an_internal_use_and_stays_write_only() {
    for backend in BACKENDS {
        let t = TestVault::open(backend).await;
        let (mut client, stop) = t.serve().await;
        let mut write = secret("credential/stripe", "sk_live_write_only_9876");
        write.write_only = true;
        t.vault
            .put_secrets(&account_id("acct_test"), None, vec![write])
            .await
            .unwrap();
        let get = |internal_use| {
            as_account(
                "acct_test",
                pb::GetSecretRequest {
                    secret_id: "credential/stripe".to_owned(),
                    internal_use,
                },
            )
        };
        let refused = client.get_secret(get(false)).await.unwrap_err();
        assert_eq!(refused.code(), tonic::Code::PermissionDenied);
        assert!(!refused.message().contains("sk_live"));
        let internal = client.get_secret(get(true)).await.unwrap().into_inner();
        assert_eq!(internal.plaintext, b"sk_live_write_only_9876");

        // A later write without the flag does not make it readable again.
        t.vault
            .put_secrets(
                &account_id("acct_test"),
                None,
                vec![secret("credential/stripe", "sk_live_replaced_5432")],
            )
            .await
            .unwrap();
        assert_eq!(
            client.get_secret(get(false)).await.unwrap_err().code(),
            tonic::Code::PermissionDenied
        );
        let listed = client
            .list_secrets(as_account(
                "acct_test",
                pb::ListSecretsRequest {
                    prefix: "credential/".to_owned(),
                },
            ))
            .await
            .unwrap()
            .into_inner()
            .secrets;
        assert!(listed[0].write_only);
        assert_eq!(listed[0].last4, "5432");
        stop.cancel();
    }
}

#[tokio::test]
async fn bad_input_names_the_field_and_writes_nothing() {
    for backend in BACKENDS {
        let t = TestVault::open(backend).await;
        let (mut client, stop) = t.serve().await;
        let request = pb::PutSecretsRequest {
            secrets: vec![
                pb::PutSecretRequest {
                    secret_id: "credential/openai".to_owned(),
                    plaintext: b"sk-valid-key-1234".to_vec(),
                    ..Default::default()
                },
                pb::PutSecretRequest {
                    secret_id: "nonsense/openai".to_owned(),
                    plaintext: b"x".to_vec(),
                    ..Default::default()
                },
                pb::PutSecretRequest {
                    secret_id: "credential/anthropic".to_owned(),
                    plaintext: Vec::new(),
                    ..Default::default()
                },
            ],
        };
        let status = client.put_secrets(as_account("acct_test", request)).await.unwrap_err();
        assert_eq!(status.code(), tonic::Code::InvalidArgument);
        let error = latchkey_errors::ApiError::from_status(&status);
        let fields: Vec<_> = error.errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["secrets[1].secret_id", "secrets[2].plaintext"]);
        assert!(!status.message().contains("sk-valid"));
        let listed = t.vault.list_secrets(&account_id("acct_test"), "").await.unwrap();
        assert!(listed.is_empty(), "nothing written: {listed:?}");

        let bad_get = client
            .get_secret(as_account(
                "acct_test",
                pb::GetSecretRequest {
                    secret_id: "no-namespace".to_owned(),
                    internal_use: false,
                },
            ))
            .await
            .unwrap_err();
        assert_eq!(bad_get.code(), tonic::Code::InvalidArgument);
        stop.cancel();
    }
}

#[tokio::test]
async fn credential_writes_announce_credential_updated_without_the_secret() {
    for backend in BACKENDS {
        let t = TestVault::open(backend).await;
        t.vault
            .put_secrets(
                &account_id("acct_test"),
                Some("key_1"),
                vec![
                    secret("credential/openai", "sk-announce-me-not-QZXW"),
                    secret("connection/con_9", "{\"access_token\":\"ya29.not-an-event\"}"),
                ],
            )
            .await
            .unwrap();
        t.vault
            .delete_secret(&account_id("acct_test"), Some("key_1"), "credential/openai")
            .await
            .unwrap();
        let rows: Vec<(String, Vec<u8>)> =
            sqlx::query_as("SELECT event_type, payload FROM latchkey_outbox ORDER BY seq")
                .fetch_all(t.db.pool())
                .await
                .unwrap();
        let types: Vec<_> = rows.iter().map(|(event_type, _)| event_type.as_str()).collect();
        assert_eq!(
            types,
            ["credential.updated", "credential.updated"],
            "connections are not credentials"
        );
        for (_, payload) in &rows {
            let text = String::from_utf8_lossy(payload);
            assert!(text.contains("openai"), "{text}");
            assert!(!text.contains("sk-announce") && !text.contains("QZXW"), "{text}");
        }
        assert!(String::from_utf8_lossy(&rows[1].1).contains("\"removed\":true"));
    }
}
