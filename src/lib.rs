//! The `latchkey` binary's library: the command line, settings, and how services are started,
//! in one process (`latchkey dev`) or one per process (`latchkey serve`). It only wires: every
//! service's behaviour lives in its own crate under `services/`.

pub mod audit_verify;
pub mod cli;
pub mod context;
pub mod dead_letters;
pub mod dev;
pub mod mesh;
pub mod mesh_certs;
pub mod migrate;
pub mod nats_config;
pub mod serve;
pub mod settings;
pub mod vault;

/// A token cancelled on Ctrl-C or SIGTERM.
pub fn shutdown_on_signal() -> tokio_util::sync::CancellationToken {
    let signals = latchkey_server::Tasks::new("latchkey");
    let token = signals.shutdown_token().clone();
    let cancel = token.clone();
    signals.spawn_until_shutdown("signals", async move {
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
