//! Sub-millisecond sleeps inside the tokio runtime, for the open loop's schedule.
//!
//! tokio's timer ticks in whole milliseconds, far coarser than the 200 µs between requests at
//! 5000/s. A separate thread sleeping to each due time is precise but costs two context switches
//! per request (its own wake-up, then waking a runtime worker to run the request), which on this
//! 2-core machine made the generator cost more CPU than the floor it measured. A timerfd registered
//! with the runtime's own epoll wakes the worker directly, at microsecond precision, and the
//! requests it starts are spawned onto that worker's local queue.

use std::io;
use std::os::fd::OwnedFd;
use std::time::{Duration, Instant};

use rustix::io::Errno;
use rustix::time::{
    Itimerspec, TimerfdClockId, TimerfdFlags, TimerfdTimerFlags, Timespec, timerfd_create, timerfd_settime,
};
use tokio::io::unix::AsyncFd;

/// A one-shot monotonic timer the runtime can await.
pub struct Pacer {
    timer: AsyncFd<OwnedFd>,
}

impl Pacer {
    /// Creates the timer; must be called inside the runtime that will await it.
    pub fn new() -> io::Result<Self> {
        let fd = timerfd_create(
            TimerfdClockId::Monotonic,
            TimerfdFlags::NONBLOCK | TimerfdFlags::CLOEXEC,
        )?;
        // `AsyncFd::new` is deprecated because it cannot know that the fd outlives the
        // registration; here it owns the `OwnedFd`, so it does (and `register`, its replacement,
        // is `unsafe`, which this workspace forbids).
        #[allow(deprecated)]
        let timer = AsyncFd::new(fd)?;
        Ok(Self { timer })
    }

    /// Returns at `deadline` (at once if it has passed).
    pub async fn sleep_until(&self, deadline: Instant) -> io::Result<()> {
        loop {
            let now = Instant::now();
            if deadline <= now {
                return Ok(());
            }
            self.arm(deadline - now)?;
            let mut ready = self.timer.readable().await?;
            // Reading the expiry count re-arms readiness; EAGAIN means a stale wake-up.
            match rustix::io::read(ready.get_inner(), &mut [0_u8; 8]) {
                Ok(_) | Err(Errno::AGAIN) => ready.clear_ready(),
                Err(error) => return Err(error.into()),
            }
        }
    }

    fn arm(&self, wait: Duration) -> io::Result<()> {
        // A zero `it_value` would disarm the timer instead; `wait` is at least 1 ns here.
        let value = Timespec {
            tv_sec: i64::try_from(wait.as_secs()).unwrap_or(i64::MAX),
            tv_nsec: i64::from(wait.subsec_nanos()),
        };
        let once = Itimerspec {
            it_interval: Timespec { tv_sec: 0, tv_nsec: 0 },
            it_value: value,
        };
        timerfd_settime(self.timer.get_ref(), TimerfdTimerFlags::empty(), &once)?;
        Ok(())
    }
}
