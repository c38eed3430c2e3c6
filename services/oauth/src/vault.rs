//! The vault as this service uses it: every call acts for one account (mesh metadata). Tokens and
//! client secrets cross only this mesh-internal API.

use latchkey_ids::AccountId;
use latchkey_proto::vault::v1::{
    DeleteSecretRequest, GetSecretRequest, ListSecretsRequest, PutSecretRequest,
    vault_service_client::VaultServiceClient,
};
use latchkey_server::{MeshChannel, with_account};
use tonic::Code;
use zeroize::Zeroizing;

use crate::OauthError;

/// A secret's plaintext (wiped on drop), its version and when it was written (Unix ms).
pub(crate) struct Opened {
    pub(crate) plaintext: Zeroizing<Vec<u8>>,
    pub(crate) version: u64,
    pub(crate) updated_at_ms: i64,
}

/// What a compare-and-swap write found.
pub(crate) enum Written {
    /// Stored as this version.
    Stored(u64),
    /// Someone else wrote first; nothing was stored.
    Conflict,
}

#[derive(Clone, Debug)]
pub(crate) struct Vault {
    client: VaultServiceClient<MeshChannel>,
}

impl Vault {
    pub(crate) fn new(client: VaultServiceClient<MeshChannel>) -> Self {
        Self { client }
    }

    /// The current version of `secret_id`, or `None` when absent. `internal_use` reads a write-only
    /// secret for the service's own use (an OAuth app's secret), never for a client.
    pub(crate) async fn get(
        &self,
        account: &AccountId,
        secret_id: &str,
        internal_use: bool,
    ) -> Result<Option<Opened>, OauthError> {
        let request = with_account(
            GetSecretRequest {
                secret_id: secret_id.to_owned(),
                internal_use,
            },
            account.as_str(),
            None,
        );
        match self.client.clone().get_secret(request).await {
            Ok(response) => {
                let response = response.into_inner();
                let meta = response.secret.unwrap_or_default();
                Ok(Some(Opened {
                    version: meta.version,
                    updated_at_ms: meta.updated_at_unix.saturating_mul(1000),
                    plaintext: Zeroizing::new(response.plaintext),
                }))
            }
            Err(status) if status.code() == Code::NotFound => Ok(None),
            Err(status) => Err(OauthError::Vault(status)),
        }
    }

    /// Writes `plaintext`; with `expected_version`, only over that version (0: only if absent).
    pub(crate) async fn put(
        &self,
        account: &AccountId,
        secret_id: &str,
        plaintext: Vec<u8>,
        expected_version: Option<u64>,
    ) -> Result<Written, OauthError> {
        self.write(account, None, secret_id, plaintext, expected_version, false)
            .await
    }

    /// Writes `plaintext` on behalf of `actor` (the API key that asked: the vault's event names it).
    pub(crate) async fn put_as(
        &self,
        account: &AccountId,
        actor: Option<&str>,
        secret_id: &str,
        plaintext: Vec<u8>,
    ) -> Result<Written, OauthError> {
        self.write(account, actor, secret_id, plaintext, None, false).await
    }

    /// Writes `plaintext` as a write-only secret: no client endpoint ever returns it again.
    pub(crate) async fn put_write_only(
        &self,
        account: &AccountId,
        secret_id: &str,
        plaintext: Vec<u8>,
    ) -> Result<Written, OauthError> {
        self.write(account, None, secret_id, plaintext, None, true).await
    }

    async fn write(
        &self,
        account: &AccountId,
        actor: Option<&str>,
        secret_id: &str,
        plaintext: Vec<u8>,
        expected_version: Option<u64>,
        write_only: bool,
    ) -> Result<Written, OauthError> {
        let request = with_account(
            PutSecretRequest {
                secret_id: secret_id.to_owned(),
                plaintext,
                write_only,
                expected_version,
            },
            account.as_str(),
            actor,
        );
        match self.client.clone().put_secret(request).await {
            Ok(response) => Ok(Written::Stored(
                response
                    .into_inner()
                    .secret
                    .map(|meta| meta.version)
                    .unwrap_or_default(),
            )),
            Err(status) if status.code() == Code::FailedPrecondition && expected_version.is_some() => {
                Ok(Written::Conflict)
            }
            Err(status) => Err(OauthError::Vault(status)),
        }
    }

    /// The ids of the account's secrets starting with `prefix` (metadata only, nothing opened).
    pub(crate) async fn list(&self, account: &AccountId, prefix: &str) -> Result<Vec<String>, OauthError> {
        let request = with_account(
            ListSecretsRequest {
                prefix: prefix.to_owned(),
            },
            account.as_str(),
            None,
        );
        let listed = self
            .client
            .clone()
            .list_secrets(request)
            .await
            .map_err(OauthError::Vault)?;
        Ok(listed
            .into_inner()
            .secrets
            .into_iter()
            .map(|meta| meta.secret_id)
            .collect())
    }

    /// Removes `secret_id`; answers whether it existed (an absent secret is not an error).
    pub(crate) async fn delete(&self, account: &AccountId, secret_id: &str) -> Result<bool, OauthError> {
        self.delete_as(account, None, secret_id).await
    }

    /// [`delete`](Self::delete) on behalf of `actor`.
    pub(crate) async fn delete_as(
        &self,
        account: &AccountId,
        actor: Option<&str>,
        secret_id: &str,
    ) -> Result<bool, OauthError> {
        let request = with_account(
            DeleteSecretRequest {
                secret_id: secret_id.to_owned(),
            },
            account.as_str(),
            actor,
        );
        match self.client.clone().delete_secret(request).await {
            Ok(_) => Ok(true),
            Err(status) if status.code() == Code::NotFound => Ok(false),
            Err(status) => Err(OauthError::Vault(status)),
        }
    }
}
