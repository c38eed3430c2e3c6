//! A directory user who is deleted (`user.deleted`, also emitted for each user of a deleted
//! service) takes its provider connections with it: the durable consumer `oauth-user-deletions`
//! disconnects every connection whose end user is that user, revoking the grant at the provider
//! where it can, as `DELETE /oauth/connections/{provider}` would. A connection the account made for
//! an end user id of its own choosing is not a directory user's and is left alone.

use latchkey_events::{Envelope, EventBus, EventFilter, catalogue::UserDeleted};
use latchkey_ids::AccountId;
use latchkey_storage::sqlx;
use tokio_util::sync::CancellationToken;

use crate::{Oauth, OauthError};

/// The durable consumer's name on the bus.
pub const USER_DELETIONS_CONSUMER: &str = "oauth-user-deletions";

impl Oauth {
    /// Runs the consumer until `shutdown` is cancelled.
    pub async fn forget_deleted_users(self, bus: EventBus, shutdown: CancellationToken) {
        let service = self;
        latchkey_events::run_consumer(
            bus,
            USER_DELETIONS_CONSUMER.to_owned(),
            EventFilter::event_type("user.deleted"),
            move |envelope| {
                let service = service.clone();
                async move { service.forget_user(&envelope).await }
            },
            shutdown.cancelled_owned(),
        )
        .await;
    }

    async fn forget_user(&self, envelope: &Envelope) -> Result<(), OauthError> {
        let (Ok(deleted), Ok(account)) = (
            serde_json::from_value::<UserDeleted>(envelope.data.clone()),
            AccountId::try_from(envelope.account.clone()),
        ) else {
            // Nothing in it names a connection: there is nothing to disconnect, now or on a retry.
            tracing::warn!(event_id = %envelope.id, "unreadable user.deleted event; skipped");
            return Ok(());
        };
        let disconnected = self.disconnect_end_user(&account, &deleted.user_id).await?;
        if disconnected > 0 {
            tracing::info!(disconnected, "disconnected a deleted directory user's connections");
        }
        Ok(())
    }

    /// Disconnects every connection of `account` for `end_user_id`; answers how many there were.
    /// One already gone (a retry, or a concurrent disconnect) counts as done.
    pub async fn disconnect_end_user(&self, account: &AccountId, end_user_id: &str) -> Result<usize, OauthError> {
        let providers: Vec<String> =
            sqlx::query_scalar("SELECT provider FROM oauth_connections WHERE account_id = $1 AND end_user_id = $2")
                .bind(account.as_str())
                .bind(end_user_id)
                .fetch_all(self.db.pool())
                .await?;
        let mut disconnected = 0;
        for provider in providers {
            match self.disconnect(account, None, &provider, end_user_id).await {
                Ok(_) => disconnected += 1,
                Err(OauthError::IntegrationNotFound(_)) => {}
                Err(error) => return Err(error),
            }
        }
        Ok(disconnected)
    }
}
