//! Live subscriptions on NATS: a core-NATS subscription that also says when it may have missed
//! events and when it is current again.
//!
//! The client resubscribes by itself after a reconnect, so the subscriber's stream never breaks;
//! what breaks is the guarantee that it sees everything. A live subscription is *current* while the
//! client is connected and the server has confirmed the subscription since the last gap (see
//! [`Link`]). When it stops being current it yields [`Step::Interrupted`]; once the client is
//! connected again it confirms the (re)subscription with a round trip and yields
//! [`Step::CaughtUp`]: every event published from then on reaches it.

use std::time::Duration;

use async_nats::{Request, RequestError, RequestErrorKind};
use futures::StreamExt;
use tokio::{sync::watch, time::Instant};

use super::{NatsBus, connection::Link, refused_off_its_subject};
use crate::{BusError, Envelope, EventFilter, delivery::Acker as DeliveryAcker, delivery::Delivery, delivery::Step};

/// How long the server has to confirm a subscription before the confirmation is tried again.
const CONFIRM_TIMEOUT: Duration = Duration::from_secs(5);
/// How long after a failed confirmation the next one is tried (sooner if the link changes).
const CONFIRM_RETRY: Duration = Duration::from_millis(500);

impl NatsBus {
    pub(crate) async fn live(&self, filter: EventFilter) -> Result<Live, BusError> {
        let bus = &self.inner;
        let mut link = bus.link.clone();
        let before = *link.borrow_and_update();
        let subscriber = bus.client.subscribe(filter.subject_under(&bus.prefix)).await?;
        let confirmed = tokio::time::timeout(CONFIRM_TIMEOUT, confirm_registered(&bus.client))
            .await
            .map_err(|_| BusError::LiveConfirm(RequestErrorKind::TimedOut.into()))?;
        confirmed.map_err(BusError::LiveConfirm)?;
        // Confirmed in this link generation, unless a gap opened meanwhile: then it is not current
        // and says so on its first step.
        let confirmed = (link.borrow().gaps == before.gaps).then_some(before.gaps);
        Ok(Live {
            client: bus.client.clone(),
            prefix: bus.prefix.clone(),
            subscriber,
            filter,
            link,
            confirmed,
            reported_current: true,
            retry_at: None,
        })
    }
}

/// Makes sure the server has registered every subscription this client sent before: a request
/// that nobody answers comes back as "no responders" only once the server has processed it, and
/// the server processes one connection's messages in order. (`flush` only writes them out.) After a
/// reconnect the client sends its subscriptions again before any later request.
async fn confirm_registered(client: &async_nats::Client) -> Result<(), RequestError> {
    let request = Request::new().timeout(Some(CONFIRM_TIMEOUT));
    match client.send_request(client.new_inbox(), request).await {
        Ok(_) => Ok(()),
        Err(err) if err.kind() == RequestErrorKind::NoResponders => Ok(()),
        Err(err) => Err(err),
    }
}

/// A core-NATS subscription that reports gaps: events published while it exists, nothing stored.
pub(crate) struct Live {
    client: async_nats::Client,
    /// The bus's subject prefix: an event must have come on the subject its envelope names.
    prefix: String,
    subscriber: async_nats::Subscriber,
    filter: EventFilter,
    link: watch::Receiver<Link>,
    /// The link's gap count when the server last confirmed the subscription.
    confirmed: Option<u64>,
    /// Whether the caller was last told the subscription is current (it is when created).
    reported_current: bool,
    /// When a failed confirmation may be tried again.
    retry_at: Option<Instant>,
}

impl Live {
    pub(crate) async fn next(&mut self) -> Option<Result<Step, BusError>> {
        loop {
            // The client is gone (its event task ended), and with it the subscription.
            if self.link.has_changed().is_err() {
                return None;
            }
            let link = *self.link.borrow_and_update();
            let current = link.connected && self.confirmed == Some(link.gaps);
            if current != self.reported_current {
                self.reported_current = current;
                return Some(Ok(if current { Step::CaughtUp } else { Step::Interrupted }));
            }
            let due = self.retry_at.is_none_or(|at| at <= Instant::now());
            if link.connected && self.confirmed != Some(link.gaps) && due {
                self.confirm(link.gaps).await;
                continue;
            }
            let retry_at = self.retry_at;
            tokio::select! {
                biased;
                changed = self.link.changed() => {
                    if changed.is_err() {
                        return None;
                    }
                }
                message = self.subscriber.next() => {
                    let message = message?;
                    if let Some(delivery) = self.delivery(&message) {
                        return Some(Ok(Step::Event(delivery)));
                    }
                }
                () = sleep_until(retry_at), if retry_at.is_some() => self.retry_at = None,
            }
        }
    }

    /// Asks the server to confirm the subscription (the client sent it again on reconnecting), and
    /// takes the answer for the link generation `gaps` unless another gap opened meanwhile.
    async fn confirm(&mut self, gaps: u64) {
        let confirmed = tokio::select! {
            result = tokio::time::timeout(CONFIRM_TIMEOUT, confirm_registered(&self.client)) => result,
            // The link moved on; start over from its new state.
            _ = self.link.changed() => return,
        };
        match confirmed {
            Ok(Ok(())) if self.link.borrow().gaps == gaps => {
                self.confirmed = Some(gaps);
                self.retry_at = None;
            }
            Ok(Ok(())) => {}
            Ok(Err(error)) => {
                tracing::debug!(%error, "could not confirm a live subscription; retrying");
                self.retry_at = Some(Instant::now() + CONFIRM_RETRY);
            }
            Err(_) => {
                tracing::debug!("a live subscription's confirmation timed out; retrying");
                self.retry_at = Some(Instant::now() + CONFIRM_RETRY);
            }
        }
    }

    fn delivery(&self, message: &async_nats::Message) -> Option<Delivery> {
        match Envelope::from_json(&message.payload) {
            Ok(envelope) if refused_off_its_subject(&message.subject, &envelope, &self.prefix) => None,
            Ok(envelope) if self.filter.matches(&envelope) => Some(Delivery {
                envelope,
                published_ms: None,
                acker: DeliveryAcker::Live,
            }),
            Ok(_) => None,
            Err(err) => {
                tracing::warn!(subject = %message.subject, error = %err, "ignoring an undecodable event");
                None
            }
        }
    }
}

async fn sleep_until(at: Option<Instant>) {
    if let Some(at) = at {
        tokio::time::sleep_until(at).await;
    }
}
