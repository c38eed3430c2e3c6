//! Throttle counters, shared by every policy instance on one database.
//!
//! Windows are fixed and aligned to the Unix epoch (a 60 s window starts at every whole minute). A
//! request takes a slot with one statement, an upsert that only increments while the count is below
//! the limit: the database serialises concurrent charges of one row (a row lock on PostgreSQL, the
//! single writer on SQLite), so N instances together never hand out more than the limit. When the
//! window is full, the caller may retry when the next window starts.

use std::time::Duration;

use latchkey_ids::AccountId;
use latchkey_storage::sqlx;
use tokio_util::sync::CancellationToken;

use crate::{Policy, PolicyError};

/// How often rows of past windows are deleted.
const SWEEP_EVERY: Duration = Duration::from_secs(60);

/// The outcome of charging one request to a counter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Charge {
    /// A slot was free and is now taken.
    Taken,
    /// The window's budget is spent; the next window starts in this many seconds (at least 1).
    Full { retry_after_secs: u32 },
}

/// The window containing `now_secs` and the seconds until the next one starts.
fn window(now_secs: i64, window_secs: u32) -> (i64, u32) {
    let length = i64::from(window_secs.max(1));
    let start = now_secs - now_secs.rem_euclid(length);
    let left = start + length - now_secs;
    (start, u32::try_from(left).unwrap_or(u32::MAX).max(1))
}

impl Policy {
    /// Charges one request to `counter_key` of `account`, at most `limit` per `window_secs`.
    pub(crate) async fn charge(
        &self,
        account: &AccountId,
        counter_key: &str,
        limit: u32,
        window_secs: u32,
    ) -> Result<Charge, PolicyError> {
        let now = chrono::Utc::now().timestamp();
        let (start, left) = window(now, window_secs);
        let taken: Option<(i64,)> = sqlx::query_as(
            "INSERT INTO throttle_counters (account_id, counter_key, window_start, count, expires_at) \
             VALUES ($1, $2, $3, 1, $4) \
             ON CONFLICT (account_id, counter_key, window_start) \
             DO UPDATE SET count = throttle_counters.count + 1 WHERE throttle_counters.count < $5 \
             RETURNING count",
        )
        .bind(account.as_str())
        .bind(counter_key)
        .bind(start)
        .bind(start + i64::from(window_secs.max(1)))
        .bind(i64::from(limit))
        .fetch_optional(self.db.pool())
        .await?;
        // A limit of 0 is refused by validation; should one reach here, the first insert still takes
        // a slot, so check the count as well.
        Ok(match taken {
            Some((count,)) if count <= i64::from(limit) => Charge::Taken,
            _ => Charge::Full { retry_after_secs: left },
        })
    }

    /// Deletes counters of windows that have ended, every minute, until `shutdown`.
    pub(crate) async fn sweep_counters(self, shutdown: CancellationToken) {
        let mut interval = tokio::time::interval(SWEEP_EVERY);
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = interval.tick() => {
                    let now = chrono::Utc::now().timestamp();
                    let swept = sqlx::query("DELETE FROM throttle_counters WHERE expires_at <= $1")
                        .bind(now)
                        .execute(self.db.pool())
                        .await;
                    if let Err(error) = swept {
                        tracing::warn!(%error, "cannot sweep old throttle counters");
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests;
