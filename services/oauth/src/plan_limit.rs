//! The plan's `connections` limit. Connections are made at the OAuth callback, which a browser
//! reaches with no API key and so no plan, so the limit is checked when a flow starts: creating a
//! session for a connection the account does not have yet is refused at the limit. Flows started
//! before the limit was reached may still finish above it (docs/plans.md).

use latchkey_ids::AccountId;
use latchkey_server::Limited;
use latchkey_storage::sqlx;

use crate::{Oauth, OauthError};

/// Every connection counts, whatever its status: one needing reauthorization is still the
/// account's.
pub(crate) const COUNT_CONNECTIONS: &str = "SELECT COUNT(*) FROM oauth_connections WHERE account_id = $1";

impl Oauth {
    /// Refuses to start a flow that would add a connection past `plan`'s limit (`PLAN_LIMIT`). A
    /// flow that reconnects an existing (provider, end user) adds none and always may start.
    pub(crate) async fn check_connection_limit(
        &self,
        account: &AccountId,
        plan: Option<&str>,
        provider: &str,
        end_user_id: &str,
    ) -> Result<(), OauthError> {
        // An unknown provider is the session's validation to answer, not a limit.
        if !self.plans.limits_anywhere(Limited::Connections) || self.catalogue.get(provider).is_none() {
            return Ok(());
        }
        let mut tx = self.db.begin_write().await?;
        let reconnect: Option<String> = sqlx::query_scalar(
            "SELECT id FROM oauth_connections WHERE account_id = $1 AND provider = $2 AND end_user_id = $3",
        )
        .bind(account.as_str())
        .bind(provider)
        .bind(end_user_id)
        .fetch_optional(&mut *tx)
        .await?;
        if reconnect.is_none() {
            self.plans
                .check(
                    &mut tx,
                    self.db.backend(),
                    account,
                    plan,
                    Limited::Connections,
                    COUNT_CONNECTIONS,
                )
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }
}
