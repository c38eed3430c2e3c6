//! The credential proxy's side of the oauth service: the account's credential for one catalogue
//! service, as the header the gateway adds to the upstream request, and the record of each proxied
//! call. This is the one way a write-only credential (`PUT /credentials`) is used: the vault opens
//! it for this internal use, and the header goes to the provider, never back to a client.

use base64::Engine;
use latchkey_events::{Envelope, catalogue::CredentialUsed};
use latchkey_ids::AccountId;
use latchkey_server::InfraError;
use zeroize::Zeroizing;

use crate::{
    EVENT_SOURCE, Oauth, OauthError,
    catalogue::{ProviderKind, ProxyAuth},
};

/// The header carrying the credential, and where the service's API is.
pub struct ProxyCredential {
    pub header_name: http::HeaderName,
    pub header_value: Zeroizing<String>,
    pub api_base_url: String,
}

impl std::fmt::Debug for ProxyCredential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProxyCredential")
            .field("header_name", &self.header_name)
            .field("header_value", &"<redacted>")
            .field("api_base_url", &self.api_base_url)
            .finish()
    }
}

/// One proxied call, as it is recorded.
#[derive(Clone, Debug)]
pub struct CredentialUse {
    pub provider: String,
    pub service: String,
    pub method: String,
    pub path_template: String,
    pub status: u16,
    pub agent_id: Option<String>,
    pub decision_id: Option<String>,
}

impl Oauth {
    /// The credential for `service` of `provider`, presented as the catalogue says
    /// (`proxy_auth`): an OAuth token refreshed first when close to expiry, or the stored API key.
    pub async fn proxy_credential(
        &self,
        account: &AccountId,
        provider: &str,
        service: &str,
        end_user_id: &str,
    ) -> Result<ProxyCredential, OauthError> {
        let provider = self.provider(provider)?;
        let api_base_url = provider
            .services
            .iter()
            .find(|known| known.code == service)
            .map(|known| known.api_base_url.clone())
            .ok_or_else(|| {
                let known: Vec<&str> = provider.services.iter().map(|s| s.code.as_str()).collect();
                OauthError::field(
                    "service",
                    format!(
                        "{} has no service {service:?}; its services: {}",
                        provider.code,
                        known.join(", ")
                    ),
                )
            })?;
        let secret = match provider.kind {
            ProviderKind::ApiKey => {
                let key = self
                    .vault
                    .get(account, &format!("credential/{}", provider.code), true)
                    .await?
                    .ok_or_else(|| OauthError::IntegrationNotFound(provider.code.clone()))?;
                Zeroizing::new(String::from_utf8_lossy(&key.plaintext).into_owned())
            }
            ProviderKind::Oauth2 => {
                let (_, tokens) = self.active_tokens(account, provider, end_user_id).await?;
                Zeroizing::new(tokens.access_token.clone())
            }
            ProviderKind::Mtproto => {
                return Err(OauthError::field(
                    "provider",
                    format!("{} speaks MTProto, not HTTP: the proxy cannot carry it", provider.code),
                ));
            }
        };
        let (header_name, header_value) = match &provider.proxy_auth {
            ProxyAuth::Bearer => (
                http::header::AUTHORIZATION,
                Zeroizing::new(format!("Bearer {}", *secret)),
            ),
            ProxyAuth::Basic => {
                let encoded = base64::engine::general_purpose::STANDARD.encode(secret.as_bytes());
                (http::header::AUTHORIZATION, Zeroizing::new(format!("Basic {encoded}")))
            }
            ProxyAuth::Header(name) => (name.clone(), secret),
        };
        Ok(ProxyCredential {
            header_name,
            header_value,
            api_base_url,
        })
    }

    /// Records one proxied call as `credential.used`.
    pub async fn record_credential_use(
        &self,
        account: &AccountId,
        actor: Option<&str>,
        used: CredentialUse,
    ) -> Result<(), OauthError> {
        let provider = self.provider(&used.provider)?;
        let event = CredentialUsed {
            provider: provider.code.clone(),
            service: used.service,
            method: used.method,
            path_template: used.path_template,
            status: used.status,
            agent_id: used.agent_id,
        };
        let mut envelope = Envelope::new(EVENT_SOURCE, account.as_str(), actor, &event);
        envelope.decisionid = used.decision_id;
        // The event is the call's only write: committed with the calls of the same moment.
        self.outbox.write(envelope).await.map_err(|error| {
            tracing::error!(%error, "cannot record a proxied call");
            OauthError::Infra(InfraError::Unavailable("the outbox"))
        })
    }
}
