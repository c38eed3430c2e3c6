//! The vault as this service uses it: every call acts for one account (mesh metadata). Tokens and
//! client secrets cross only this mesh-internal API.

use latchkey_proto::vault::v1::{
    DeleteSecretRequest, GetSecretRequest, PutSecretRequest, vault_service_client::VaultServiceClient,
};
use latchkey_server::{MeshChannel, with_account};
use tonic::Code;
use zeroize::Zeroizing;

use crate::OauthError;

/// A secret's plaintext (wiped on drop) and its version.
pub(crate) struct Opened {
    pub(crate) plaintext: Zeroizing<Vec<u8>>,
    pub(crate) version: u64,
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
        account: &str,
        secret_id: &str,
        internal_use: bool,
    ) -> Result<Option<Opened>, OauthError> {
        let request = with_account(
            GetSecretRequest {
                secret_id: secret_id.to_owned(),
                internal_use,
            },
            account,
            None,
        );
        match self.client.clone().get_secret(request).await {
            Ok(response) => {
                let response = response.into_inner();
                Ok(Some(Opened {
                    version: response.secret.map(|meta| meta.version).unwrap_or_default(),
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
        account: &str,
        secret_id: &str,
        plaintext: Vec<u8>,
        expected_version: Option<u64>,
    ) -> Result<Written, OauthError> {
        let request = with_account(
            PutSecretRequest {
                secret_id: secret_id.to_owned(),
                plaintext,
                write_only: false,
                expected_version,
            },
            account,
            None,
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

    /// Removes `secret_id`; an absent secret is not an error.
    pub(crate) async fn delete(&self, account: &str, secret_id: &str) -> Result<(), OauthError> {
        let request = with_account(
            DeleteSecretRequest {
                secret_id: secret_id.to_owned(),
            },
            account,
            None,
        );
        match self.client.clone().delete_secret(request).await {
            Ok(_) => Ok(()),
            Err(status) if status.code() == Code::NotFound => Ok(()),
            Err(status) => Err(OauthError::Vault(status)),
        }
    }
}
