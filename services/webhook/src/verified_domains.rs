//! Which endpoints are on a domain the account has verified (`verified_domain` in the answers).
//! Agent-token owns verified domains; this service asks it (`DomainService.CheckHosts`) for the
//! hosts of the endpoints it answers with, one call per answer. A flag only: delivery is the same
//! either way, and when agent-token cannot be asked the endpoints are answered unflagged (with a
//! warning logged) rather than not at all.

use latchkey_ids::AccountId;
use latchkey_proto::agent_token::v1::{CheckHostsRequest, domain_service_client::DomainServiceClient};
use latchkey_server::MeshChannel;

use crate::Webhook;

/// Agent-token's domain service, as this service calls it.
pub(crate) type DomainClient = DomainServiceClient<MeshChannel>;

/// The host of an endpoint URL worth asking about: a name, never an IP literal.
fn host_name(url: &str) -> Option<String> {
    reqwest::Url::parse(url).ok()?.domain().map(str::to_owned)
}

impl Webhook {
    /// For each URL, whether its host is on one of `account`'s verified domains. All false when no
    /// domain service is configured or it did not answer.
    pub(crate) async fn on_verified_domains(&self, account: &AccountId, urls: &[&str]) -> Vec<bool> {
        let mut flags = vec![false; urls.len()];
        let Some(client) = &self.domains else {
            return flags;
        };
        let named: Vec<(usize, String)> = urls
            .iter()
            .enumerate()
            .filter_map(|(index, url)| host_name(url).map(|host| (index, host)))
            .collect();
        // CheckHosts takes at most 1000 hosts a call.
        for chunk in named.chunks(1000) {
            let request = CheckHostsRequest {
                hosts: chunk.iter().map(|(_, host)| host.clone()).collect(),
            };
            match client
                .clone()
                .check_hosts(latchkey_server::with_account(request, account.as_str(), None))
                .await
            {
                Ok(answer) => {
                    for ((index, _), verified) in chunk.iter().zip(answer.into_inner().verified) {
                        flags[*index] = verified;
                    }
                }
                Err(status) => {
                    tracing::warn!(code = ?status.code(), "cannot ask agent-token which endpoint hosts are on verified \
                                                           domains; answering them unflagged");
                    break;
                }
            }
        }
        flags
    }
}

#[cfg(test)]
mod tests;
