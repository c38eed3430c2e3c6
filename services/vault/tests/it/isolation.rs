//! One account never reads, lists, overwrites or removes another's secrets, over gRPC; a call that
//! names no account is refused; the deployment's own account keeps its own namespaces.

use latchkey_proto::vault::v1 as pb;
use latchkey_storage::sqlx;
use latchkey_test_support::{BACKENDS, mesh::as_account};

use crate::support::TestVault;

#[tokio::test]
async fn one_account_never_sees_or_touches_another_s_secrets() {
    for backend in BACKENDS {
        let t = TestVault::open(backend).await;
        let (mut client, stop) = t.serve().await;
        client
            .put_secret(as_account(
                "acct_a",
                pb::PutSecretRequest {
                    secret_id: "credential/openai".to_owned(),
                    plaintext: b"sk-account-a-only-AAAA".to_vec(),
                    ..Default::default()
                },
            ))
            .await
            .unwrap();

        let get = |account: &str| {
            as_account(
                account,
                pb::GetSecretRequest {
                    secret_id: "credential/openai".to_owned(),
                    internal_use: true,
                },
            )
        };
        assert_eq!(
            client.get_secret(get("acct_b")).await.unwrap_err().code(),
            tonic::Code::NotFound
        );
        let listed = client
            .list_secrets(as_account("acct_b", pb::ListSecretsRequest { prefix: String::new() }))
            .await
            .unwrap()
            .into_inner();
        assert!(listed.secrets.is_empty());
        let deleted = client
            .delete_secret(as_account(
                "acct_b",
                pb::DeleteSecretRequest {
                    secret_id: "credential/openai".to_owned(),
                },
            ))
            .await
            .unwrap_err();
        assert_eq!(deleted.code(), tonic::Code::NotFound);
        // B writing the same id writes B's own secret (version 1), A's stays as it was.
        let b_write = client
            .put_secret(as_account(
                "acct_b",
                pb::PutSecretRequest {
                    secret_id: "credential/openai".to_owned(),
                    plaintext: b"sk-account-b-BBBB".to_vec(),
                    expected_version: Some(0),
                    ..Default::default()
                },
            ))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(b_write.secret.unwrap().version, 1);
        let a = client.get_secret(get("acct_a")).await.unwrap().into_inner();
        assert_eq!(a.plaintext, b"sk-account-a-only-AAAA");

        stop.cancel();
    }
}

/// The account a call names is parsed before anything is read or written: text that is no account
/// id (a wildcard, a dot, another kind's id, an overlong string) is refused, and only the
/// deployment's own account (`_system`) is taken besides, for its own namespaces alone.
#[tokio::test]
async fn a_call_naming_no_account_is_refused_and_the_system_account_keeps_its_own_keys() {
    for backend in BACKENDS {
        let t = TestVault::open(backend).await;
        let (mut client, stop) = t.serve().await;
        let put = |secret_id: &str| pb::PutSecretRequest {
            secret_id: secret_id.to_owned(),
            plaintext: b"a-value-long-enough-1234".to_vec(),
            ..Default::default()
        };
        let overlong = format!("acct_{}", "a".repeat(200));
        for account in [
            "acct_*",
            "acct_>",
            "acct_a.b",
            "ACCT_A",
            "agent_0123456789abcdef",
            "_system_",
            overlong.as_str(),
        ] {
            let refused = client
                .put_secret(as_account(account, put("credential/openai")))
                .await
                .unwrap_err();
            assert_eq!(refused.code(), tonic::Code::Unauthenticated, "{account}");
            let refused = client
                .list_secrets(as_account(account, pb::ListSecretsRequest { prefix: String::new() }))
                .await
                .unwrap_err();
            assert_eq!(refused.code(), tonic::Code::Unauthenticated, "{account}");
        }
        let (rows,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM vault_secrets")
            .fetch_one(t.db.pool())
            .await
            .unwrap();
        assert_eq!(rows, 0, "nothing written");

        // The deployment's own keys, as agent-token and the audit service seal and open them.
        let system = latchkey_server::SYSTEM_ACCOUNT;
        client
            .put_secret(as_account(system, put("signing-key/kid_1")))
            .await
            .expect("seal a signing key");
        let opened = client
            .get_secret(as_account(
                system,
                pb::GetSecretRequest {
                    secret_id: "signing-key/kid_1".to_owned(),
                    internal_use: true,
                },
            ))
            .await
            .expect("open the signing key")
            .into_inner();
        assert_eq!(opened.plaintext, b"a-value-long-enough-1234");
        // Its namespaces are its own, and it takes no other.
        let refused = client
            .get_secret(as_account(
                "acct_a",
                pb::GetSecretRequest {
                    secret_id: "signing-key/kid_1".to_owned(),
                    internal_use: true,
                },
            ))
            .await
            .unwrap_err();
        assert_eq!(refused.code(), tonic::Code::InvalidArgument);
        let refused = client
            .put_secret(as_account(system, put("credential/openai")))
            .await
            .unwrap_err();
        assert_eq!(refused.code(), tonic::Code::InvalidArgument);
        stop.cancel();
    }
}
