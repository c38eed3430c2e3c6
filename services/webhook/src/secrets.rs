//! Where signing secrets are kept. With the vault (every mesh deployment), an endpoint's secrets are
//! sealed there as one document, secret `webhook/<endpoint id>`: the current secret and, during a
//! rotation's overlap, the previous one. This service's table keeps only the vault version. Without
//! a vault (this crate's own tests and benchmark) they stay in the table.
//!
//! Deliveries need the plaintext for every message, so opened documents are cached in memory by
//! (endpoint, version): a rotation writes a new version, so the cache never serves a stale secret.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
};

use latchkey_proto::vault::v1::{
    DeleteSecretRequest, GetSecretRequest, PutSecretRequest, vault_service_client::VaultServiceClient,
};
use latchkey_server::{MeshChannel, with_account};
use serde::{Deserialize, Serialize};

use crate::WebhookError;

/// An endpoint's signing secrets.
#[derive(Clone, Serialize, Deserialize)]
pub(crate) struct SecretDoc {
    pub(crate) current: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) previous: Option<String>,
}

impl std::fmt::Debug for SecretDoc {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretDoc(<redacted>)")
    }
}

#[derive(Clone, Debug, Default)]
pub(crate) struct SecretStore {
    vault: Option<VaultServiceClient<MeshChannel>>,
    opened: Arc<Mutex<HashMap<String, (u64, SecretDoc)>>>,
}

fn secret_id(endpoint_id: &str) -> String {
    format!("webhook/{endpoint_id}")
}

impl SecretStore {
    pub(crate) fn with_vault(vault: VaultServiceClient<MeshChannel>) -> Self {
        Self {
            vault: Some(vault),
            opened: Arc::default(),
        }
    }

    pub(crate) fn sealed(&self) -> bool {
        self.vault.is_some()
    }

    /// Seals `doc` as the endpoint's secrets; `expected` is the version it replaces (0: none).
    /// Answers the new version.
    pub(crate) async fn seal(
        &self,
        account_id: &str,
        endpoint_id: &str,
        doc: &SecretDoc,
        expected: u64,
    ) -> Result<u64, WebhookError> {
        let Some(vault) = &self.vault else {
            return Err(WebhookError::Vault("no vault to seal with".to_owned()));
        };
        let plaintext = serde_json::to_vec(doc).map_err(|error| WebhookError::Vault(error.to_string()))?;
        let request = with_account(
            PutSecretRequest {
                secret_id: secret_id(endpoint_id),
                plaintext,
                write_only: false,
                expected_version: Some(expected),
            },
            account_id,
            None,
        );
        let stored = vault
            .clone()
            .put_secret(request)
            .await
            .map_err(|status| WebhookError::Vault(status.message().to_owned()))?
            .into_inner();
        let version = stored.secret.map(|meta| meta.version).unwrap_or_default();
        self.opened
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(endpoint_id.to_owned(), (version, doc.clone()));
        Ok(version)
    }

    /// The endpoint's secrets at `version`, from the cache or the vault.
    pub(crate) async fn open(
        &self,
        account_id: &str,
        endpoint_id: &str,
        version: u64,
    ) -> Result<SecretDoc, WebhookError> {
        if let Some((cached, doc)) = self
            .opened
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(endpoint_id)
            && *cached == version
        {
            return Ok(doc.clone());
        }
        let Some(vault) = &self.vault else {
            return Err(WebhookError::Vault(
                "the secret is sealed but no vault is configured".to_owned(),
            ));
        };
        let request = with_account(
            GetSecretRequest {
                secret_id: secret_id(endpoint_id),
                internal_use: true,
            },
            account_id,
            None,
        );
        let opened = vault
            .clone()
            .get_secret(request)
            .await
            .map_err(|status| WebhookError::Vault(status.message().to_owned()))?
            .into_inner();
        let found = opened.secret.map(|meta| meta.version).unwrap_or_default();
        let doc: SecretDoc = serde_json::from_slice(&opened.plaintext)
            .map_err(|_| WebhookError::Vault("unreadable secret".to_owned()))?;
        if found == version {
            self.opened
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .insert(endpoint_id.to_owned(), (version, doc.clone()));
        }
        Ok(doc)
    }

    /// Removes the endpoint's secrets (best effort: an orphan in the vault signs nothing).
    pub(crate) async fn forget(&self, account_id: &str, endpoint_id: &str) {
        self.opened
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(endpoint_id);
        if let Some(vault) = &self.vault {
            let request = with_account(
                DeleteSecretRequest {
                    secret_id: secret_id(endpoint_id),
                },
                account_id,
                None,
            );
            if let Err(status) = vault.clone().delete_secret(request).await {
                tracing::warn!(endpoint_id, code = ?status.code(), "could not delete a webhook secret from the vault");
            }
        }
    }
}
