//! A ciphertext copied to another row, account or version does not open: the AAD binds it.

use latchkey_storage::sqlx;
use latchkey_test_support::BACKENDS;
use latchkey_vault::VaultError;

use crate::support::{TestVault, account_id, secret};

/// Copies the sealed bytes (nonce and ciphertext) of one row over another's.
async fn copy_sealed(t: &TestVault, from: (&str, &str), to: (&str, &str)) {
    let (nonce, ciphertext): (Vec<u8>, Vec<u8>) =
        sqlx::query_as("SELECT nonce, ciphertext FROM vault_secrets WHERE account_id = $1 AND secret_id = $2")
            .bind(from.0)
            .bind(from.1)
            .fetch_one(t.db.pool())
            .await
            .unwrap();
    let updated =
        sqlx::query("UPDATE vault_secrets SET nonce = $3, ciphertext = $4 WHERE account_id = $1 AND secret_id = $2")
            .bind(to.0)
            .bind(to.1)
            .bind(nonce)
            .bind(ciphertext)
            .execute(t.db.pool())
            .await
            .unwrap();
    assert_eq!(updated.rows_affected(), 1);
}

fn assert_does_not_open(result: Result<latchkey_vault::SecretValue, VaultError>) {
    match result {
        Err(VaultError::Tampered { .. }) => {}
        other => panic!("a moved ciphertext must not open: {other:?}"),
    }
}

#[tokio::test]
async fn a_ciphertext_moved_to_another_account_does_not_open() {
    for backend in BACKENDS {
        let t = TestVault::open(backend).await;
        t.vault
            .put_secrets(
                &account_id("acct_alice"),
                None,
                vec![secret("credential/openai", "sk-alice-secret-AAAA")],
            )
            .await
            .unwrap();
        t.vault
            .put_secrets(
                &account_id("acct_mallory"),
                None,
                vec![secret("credential/openai", "sk-mallory-own-MMMM")],
            )
            .await
            .unwrap();
        copy_sealed(
            &t,
            ("acct_alice", "credential/openai"),
            ("acct_mallory", "credential/openai"),
        )
        .await;
        assert_does_not_open(
            t.vault
                .get_secret(&account_id("acct_mallory"), "credential/openai", true)
                .await,
        );
        // Even with Alice's data key copied along, Mallory's account id is in both AADs.
        let (root_version, wrapped): (i64, Vec<u8>) =
            sqlx::query_as("SELECT root_version, wrapped_key FROM vault_data_keys WHERE account_id = 'acct_alice'")
                .fetch_one(t.db.pool())
                .await
                .unwrap();
        sqlx::query("UPDATE vault_data_keys SET root_version = $1, wrapped_key = $2 WHERE account_id = 'acct_mallory'")
            .bind(root_version)
            .bind(wrapped)
            .execute(t.db.pool())
            .await
            .unwrap();
        let fresh = t.another_instance().await;
        assert!(matches!(
            fresh
                .get_secret(&account_id("acct_mallory"), "credential/openai", true)
                .await,
            Err(VaultError::Tampered { .. })
        ));
        // Alice's own secret is untouched.
        let alice = t
            .vault
            .get_secret(&account_id("acct_alice"), "credential/openai", true)
            .await
            .unwrap();
        assert_eq!(alice.plaintext.as_slice(), b"sk-alice-secret-AAAA");
    }
}

#[tokio::test]
async fn a_ciphertext_moved_to_another_row_or_version_does_not_open() {
    for backend in BACKENDS {
        let t = TestVault::open(backend).await;
        t.vault
            .put_secrets(
                &account_id("acct_test"),
                None,
                vec![
                    secret("credential/openai", "sk-openai-value-1111"),
                    secret("credential/stripe", "sk-stripe-value-2222"),
                ],
            )
            .await
            .unwrap();
        copy_sealed(
            &t,
            ("acct_test", "credential/openai"),
            ("acct_test", "credential/stripe"),
        )
        .await;
        assert_does_not_open(
            t.vault
                .get_secret(&account_id("acct_test"), "credential/stripe", true)
                .await,
        );

        // An old version replayed over a newer one (a restored backup row) does not open either.
        let (old_nonce, old_ciphertext): (Vec<u8>, Vec<u8>) =
            sqlx::query_as("SELECT nonce, ciphertext FROM vault_secrets WHERE secret_id = 'credential/openai'")
                .fetch_one(t.db.pool())
                .await
                .unwrap();
        t.vault
            .put_secrets(
                &account_id("acct_test"),
                None,
                vec![secret("credential/openai", "sk-openai-rotated-3333")],
            )
            .await
            .unwrap();
        sqlx::query("UPDATE vault_secrets SET nonce = $1, ciphertext = $2 WHERE secret_id = 'credential/openai'")
            .bind(old_nonce)
            .bind(old_ciphertext)
            .execute(t.db.pool())
            .await
            .unwrap();
        assert_does_not_open(
            t.vault
                .get_secret(&account_id("acct_test"), "credential/openai", true)
                .await,
        );
    }
}
