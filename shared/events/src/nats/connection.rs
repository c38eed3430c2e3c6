//! A NATS client together with the news of its connection, which live subscriptions need.
//!
//! async-nats reconnects by itself and sends every subscription to the new server connection again,
//! silently: a core-NATS subscriber sees nothing of it, yet whatever was published between the
//! disconnect and the server's registering the subscription again never reaches it. The client
//! reports the disconnect and the reconnect only through the event callback given when it connects,
//! so the bus's client has to be made here, with that callback installed.

use async_nats::{ConnectError, ConnectOptions, Event, ToServerAddrs};
use tokio::sync::watch;

/// The state of the client's link to the server, as its events tell it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Link {
    /// Whether the client is connected (as of the last event delivered).
    pub(crate) connected: bool,
    /// How many times core-NATS messages may have been lost: every disconnect, and every slow-consumer
    /// report (a subscription whose buffer was full dropped a message). A live subscription whose
    /// registration was confirmed at one count is current until the count moves.
    pub(crate) gaps: u64,
}

impl Link {
    fn note(&mut self, event: &Event) {
        match event {
            Event::Connected => self.connected = true,
            Event::Disconnected | Event::Closed => {
                self.connected = false;
                self.gaps += 1;
            }
            Event::SlowConsumer(_) => self.gaps += 1,
            // The server or the client reports trouble; a lost connection comes as Disconnected.
            Event::LameDuckMode | Event::Draining | Event::ServerError(_) | Event::ClientError(_) => {}
        }
    }
}

/// A NATS client whose connection events the bus follows. Cheap to clone.
#[derive(Clone, Debug)]
pub struct NatsConnection {
    client: async_nats::Client,
    link: watch::Receiver<Link>,
}

impl NatsConnection {
    /// Connects to `addrs` with `options`, installing the event callback the bus's live subscriptions
    /// depend on (it replaces any callback `options` had). With `retry_on_initial_connect` this
    /// returns at once and the client connects in the background.
    pub async fn connect(addrs: impl ToServerAddrs, options: ConnectOptions) -> Result<Self, ConnectError> {
        let (sender, link) = watch::channel(Link::default());
        let options = options.event_callback(move |event| {
            // The server's errors are otherwise only the client's debug output, yet they are how a
            // permissions violation shows (a publish, subscription or JetStream request of a subject
            // the user may not use is dropped, and its request times out).
            if let Event::ServerError(error) = &event {
                tracing::error!(%error, "the NATS server reported an error");
            }
            // The callback runs on the client's event task, in the order the events happened.
            sender.send_modify(|link| link.note(&event));
            std::future::ready(())
        });
        let client = options.connect(addrs).await?;
        Ok(Self { client, link })
    }

    /// The client, e.g. for publishing or JetStream calls of one's own.
    pub fn client(&self) -> &async_nats::Client {
        &self.client
    }

    pub(crate) fn into_parts(self) -> (async_nats::Client, watch::Receiver<Link>) {
        (self.client, self.link)
    }
}

#[cfg(test)]
mod tests;
