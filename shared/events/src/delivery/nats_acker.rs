//! Settling JetStream messages: ack, nak, and a nak in the background for a delivery dropped
//! unsettled.

use std::time::Duration;

use async_nats::jetstream::{self, AckKind};

use crate::BusError;

/// Settles one JetStream message.
pub(crate) struct Acker {
    message: Option<Box<jetstream::Message>>,
}

impl Acker {
    pub(crate) fn new(message: jetstream::Message) -> Self {
        Self {
            message: Some(Box::new(message)),
        }
    }

    pub(crate) async fn ack(mut self) -> Result<(), BusError> {
        let Some(message) = self.message.take() else {
            return Ok(());
        };
        // Wait for the server to confirm: only then is the event consumed for sure.
        message.double_ack().await.map_err(BusError::Ack)
    }

    /// Sends the ack without waiting for the server to confirm it: for every message of a batch
    /// but the last, whose confirmed ack follows them on the same connection (see `ack_all`).
    async fn ack_unconfirmed(mut self) -> Result<(), BusError> {
        let Some(message) = self.message.take() else {
            return Ok(());
        };
        message.ack().await.map_err(BusError::Ack)
    }

    pub(crate) async fn nak(mut self, delay: Duration) -> Result<(), BusError> {
        let Some(message) = self.message.take() else {
            return Ok(());
        };
        let delay = (!delay.is_zero()).then_some(delay);
        message.ack_with(AckKind::Nak(delay)).await.map_err(BusError::Ack)
    }
}

/// Acknowledges the messages of a batch, in order, with one round trip: every ack but the last is
/// sent without waiting, the last one waits for the server's confirmation. JetStream handles one
/// connection's acks to a consumer in the order they were sent, so the confirmation of the last
/// comes after the others were handled. Should one be lost all the same, its event comes again after
/// the ack wait, and handlers are idempotent. (A confirmed ack per message would cost a reply
/// subscription and a round trip each.)
pub(crate) async fn ack_all(mut ackers: Vec<Acker>) -> Result<(), BusError> {
    let Some(last) = ackers.pop() else {
        return Ok(());
    };
    for acker in ackers {
        acker.ack_unconfirmed().await?;
    }
    last.ack().await
}

impl Drop for Acker {
    fn drop(&mut self) {
        if let Some(message) = self.message.take() {
            nak_in_background(*message);
        }
    }
}

/// Naks `message` without blocking: used from `Drop`, where nothing can be awaited.
fn nak_in_background(message: jetstream::Message) {
    if let Ok(runtime) = tokio::runtime::Handle::try_current() {
        runtime.spawn(async move {
            let _ = message.ack_with(AckKind::Nak(None)).await;
        });
    }
}
