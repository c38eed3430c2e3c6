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

    /// Asks for the message again (after `delay`, if not zero), and waits for the server to confirm:
    /// a pull request sent afterwards then finds it back in the redelivery queue, ahead of anything
    /// newer. (JetStream handles a nak apart from pull requests, so an unconfirmed one can lose the
    /// race to the consumer's next request, which a consumer allowed more than one unacknowledged
    /// message then answers with a newer message.)
    pub(crate) async fn nak(mut self, delay: Duration) -> Result<(), BusError> {
        let Some(message) = self.message.take() else {
            return Ok(());
        };
        let delay = (!delay.is_zero()).then_some(delay);
        message
            .double_ack_with(AckKind::Nak(delay))
            .await
            .map_err(BusError::Ack)
    }

    /// Sends the nak without waiting for the server to confirm it: for every message of a batch but
    /// the last, whose confirmed nak follows them on the same connection (see `nak_all`).
    async fn nak_unconfirmed(mut self) -> Result<(), BusError> {
        let Some(message) = self.message.take() else {
            return Ok(());
        };
        message.ack_with(AckKind::Nak(None)).await.map_err(BusError::Ack)
    }
}

/// Asks for the messages of a batch again, at once and in order, with one round trip: as
/// [`ack_all`], every nak but the last is sent without waiting and the last waits for the server's
/// confirmation, after which the whole batch is in the redelivery queue, in order. Every message is
/// tried; the first failure is answered.
pub(crate) async fn nak_all(mut ackers: Vec<Acker>) -> Result<(), BusError> {
    let Some(last) = ackers.pop() else {
        return Ok(());
    };
    let mut failure = None;
    for acker in ackers {
        if let Err(err) = acker.nak_unconfirmed().await {
            failure.get_or_insert(err);
        }
    }
    if let Err(err) = last.nak(Duration::ZERO).await {
        failure.get_or_insert(err);
    }
    failure.map_or(Ok(()), Err)
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
