//! One account never reads, lists, overwrites or removes another's secrets, over gRPC.

use latchkey_proto::vault::v1 as pb;
use latchkey_test_support::{BACKENDS, mesh::as_account};

use crate::support::TestVault;

#[tokio::test]
async fn one_account_never_sees_or_touches_another_s_secrets() {
    for backend in BACKENDS {
        let t = TestVault::open(backend).await;
        let (mut client, stop) = t.serve().await;
        client
            .put_secret(as_account(
                "acc_a",
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
            client.get_secret(get("acc_b")).await.unwrap_err().code(),
            tonic::Code::NotFound
        );
        let listed = client
            .list_secrets(as_account("acc_b", pb::ListSecretsRequest { prefix: String::new() }))
            .await
            .unwrap()
            .into_inner();
        assert!(listed.secrets.is_empty());
        let deleted = client
            .delete_secret(as_account(
                "acc_b",
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
                "acc_b",
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
        let a = client.get_secret(get("acc_a")).await.unwrap().into_inner();
        assert_eq!(a.plaintext, b"sk-account-a-only-AAAA");

        stop.cancel();
    }
}
