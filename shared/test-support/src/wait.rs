//! Waiting for what happens in the background (a consumer, a relay, a retry) without a fixed
//! sleep: poll often, give up at a deadline, and leave the verdict to the test's own assertion.

use std::time::Duration;

use tokio::time::Instant;

/// How often a condition is checked again.
const POLL_INTERVAL: Duration = Duration::from_millis(20);

/// Checks `check` until it holds or `deadline` passes; answers whether it held.
pub async fn eventually<F, Fut>(deadline: Duration, mut check: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let until = Instant::now() + deadline;
    loop {
        if check().await {
            return true;
        }
        if Instant::now() > until {
            return false;
        }
        tokio::time::sleep(POLL_INTERVAL).await;
    }
}

/// Reads with `read` until `settled` holds for what it answered or `deadline` passes; answers the
/// last value read either way, so the test's assertion shows what was there instead.
pub async fn read_until<T, F, Fut>(deadline: Duration, mut read: F, settled: impl Fn(&T) -> bool) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = T>,
{
    let until = Instant::now() + deadline;
    loop {
        let value = read().await;
        if settled(&value) || Instant::now() > until {
            return value;
        }
        tokio::time::sleep(POLL_INTERVAL).await;
    }
}
