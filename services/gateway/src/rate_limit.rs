//! The per-key rate limit: a GCRA bucket per API key id (governor's keyed limiter).
//!
//! State is kept per gateway process, in memory: behind N gateways a key may make up to N times the
//! configured rate. That bounds abuse of one process cheaply without a shared store on the hot path.

use std::{num::NonZeroU32, sync::Arc};

use governor::{
    Quota, RateLimiter,
    clock::{Clock, DefaultClock},
    state::keyed::DefaultKeyedStateStore,
};
use latchkey_errors::{ApiError, ErrorCode};

use crate::problem::Problem;

/// Rate limits keyed by API key id.
pub(crate) struct KeyRateLimiter {
    limiter: RateLimiter<Arc<str>, DefaultKeyedStateStore<Arc<str>>, DefaultClock>,
}

impl KeyRateLimiter {
    /// `per_second` sustained, up to `burst` back to back.
    pub(crate) fn new(per_second: NonZeroU32, burst: NonZeroU32) -> Self {
        Self {
            limiter: RateLimiter::keyed(Quota::per_second(per_second).allow_burst(burst)),
        }
    }

    /// Takes one request from `key_id`'s allowance, or answers `RATE_LIMITED` with the whole seconds
    /// to wait (at least 1) for `Retry-After`.
    pub(crate) fn check(&self, key_id: &Arc<str>) -> Result<(), Problem> {
        self.limiter.check_key(key_id).map_err(|not_until| {
            let wait = not_until.wait_time_from(self.limiter.clock().now());
            let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
            Problem(ApiError {
                retry_after_secs: Some(seconds.max(1)),
                ..ApiError::new(
                    ErrorCode::RateLimited,
                    "too many requests for this API key; retry after the number of seconds in Retry-After",
                )
            })
        })
    }

    /// Forgets keys whose buckets are full again, so memory follows the keys in recent use.
    pub(crate) fn retain_recent(&self) {
        self.limiter.retain_recent();
    }
}

#[cfg(test)]
mod tests;
