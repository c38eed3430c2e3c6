//! A consumer (or a whole service) on a tokio runtime of its own, so a test can kill it the way a
//! crash would: every task dropped wherever it stands, mid-batch or mid-transaction, nothing settled
//! with the bus or the database.

use tokio_util::sync::CancellationToken;

/// Runs until dropped (cancelling its shutdown token first) or killed.
pub struct RunningConsumer {
    runtime: Option<tokio::runtime::Runtime>,
    shutdown: CancellationToken,
}

impl RunningConsumer {
    /// Starts `run` on a new two-thread runtime; it gets the token a drop cancels. Whatever it
    /// opens (database pool, NATS connection) belongs to that runtime and dies with it.
    pub fn start<F, Fut>(run: F) -> Self
    where
        F: FnOnce(CancellationToken) -> Fut,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("a runtime");
        let shutdown = CancellationToken::new();
        runtime.spawn(run(shutdown.clone()));
        Self {
            runtime: Some(runtime),
            shutdown,
        }
    }

    /// Kills it: the runtime is dropped with every task wherever it stands, as a crash would.
    pub fn kill(mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

impl Drop for RunningConsumer {
    fn drop(&mut self) {
        self.shutdown.cancel();
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}
