//! The `latchkey` binary's library: the command line, settings, and how services are started,
//! in one process (`latchkey dev`) or one per process (`latchkey serve`). It only wires: every
//! service's behaviour lives in its own crate under `services/`.

pub mod audit_verify;
pub mod cli;
pub mod dead_letters;
pub mod dev;
pub mod mesh;
pub mod serve;
pub mod settings;
pub mod vault;

/// A token cancelled on Ctrl-C or SIGTERM.
pub fn shutdown_on_signal() -> tokio_util::sync::CancellationToken {
    let token = tokio_util::sync::CancellationToken::new();
    let cancel = token.clone();
    tokio::spawn(async move {
        let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = async {
                match terminate.as_mut() {
                    Some(signal) => { signal.recv().await; }
                    None => std::future::pending::<()>().await,
                }
            } => {}
        }
        cancel.cancel();
    });
    token
}
