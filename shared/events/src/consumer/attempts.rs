//! How a consumer counts failures: the growing retry delay and the tries of the event (the batch,
//! by its first event) that keeps failing, and the narrowing that finds the failing event of a
//! batch so that it, not the whole batch, is counted and dead-lettered.

use std::time::Duration;

use super::{RETRY_INITIAL, RETRY_MAX};
use crate::backoff::Backoff;

/// After this many failures in a row, a batch of several events is taken apart: one event at a
/// time until its last event is settled. The first retry stays whole, so a passing failure costs
/// no more than before.
const NARROW_AFTER: u32 = 2;

#[derive(Default)]
pub(super) struct Attempts {
    failing: Option<Failing>,
    /// The last event of a batch that kept failing: until it is settled, batches hold one event.
    narrow_until: Option<String>,
}

struct Failing {
    first_id: String,
    backoff: Backoff,
    tries: u32,
}

/// One more failure: when to try again, and how many tries failed in a row.
pub(super) struct Failure {
    pub(super) delay: Duration,
    pub(super) tries: u32,
}

impl Attempts {
    /// The most events the next batch may hold.
    pub(super) fn batch_size(&self, max: usize) -> usize {
        if self.narrow_until.is_some() { 1 } else { max }
    }

    /// Counts a failure of the batch `first_id..=last_id` of `len` events.
    pub(super) fn failed(&mut self, first_id: &str, last_id: &str, len: usize) -> Failure {
        let failing = match &mut self.failing {
            Some(failing) if failing.first_id == first_id => failing,
            failing => failing.insert(Failing {
                first_id: first_id.to_owned(),
                backoff: Backoff::new(RETRY_INITIAL, RETRY_MAX),
                tries: 0,
            }),
        };
        failing.tries = failing.tries.saturating_add(1);
        let failure = Failure {
            delay: failing.backoff.next_delay(),
            tries: failing.tries,
        };
        if len > 1 && failure.tries >= NARROW_AFTER {
            self.narrow_until = Some(last_id.to_owned());
        }
        failure
    }

    /// The batch ending with `last_id` was acknowledged or dead-lettered.
    pub(super) fn settled(&mut self, last_id: &str) {
        self.failing = None;
        if self.narrow_until.as_deref() == Some(last_id) {
            self.narrow_until = None;
        }
    }

    /// Nothing is waiting: whatever was being taken apart is behind us.
    pub(super) fn idle(&mut self) {
        self.narrow_until = None;
    }
}

#[cfg(test)]
mod tests;
