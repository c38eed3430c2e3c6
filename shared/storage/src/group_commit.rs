//! Group commit: writes that callers make at the same moment share one transaction and one commit,
//! where each on its own would queue for SQLite's single writer or PostgreSQL's commit.
//!
//! A caller queues its item and takes the writing turn. Whoever holds the turn writes everything
//! queued so far (at most `max` items) and answers each item's caller; the callers queued
//! meanwhile form the next group. So under load a group grows to what arrived during the last
//! write, and alone a caller writes at once.

use std::{
    fmt,
    future::Future,
    sync::{Arc, Mutex, PoisonError},
};

use tokio::sync::oneshot;

/// The transaction of a group failed: none of its items was written.
#[derive(Clone, Debug, thiserror::Error)]
#[error("{0}")]
pub struct GroupFailed(pub Arc<str>);

/// The items waiting for the next group, each with its ticket and the one waiting for its answer.
pub struct GroupCommit<T, A> {
    queued: Mutex<Queued<T, A>>,
    /// Held while a group is written; the next group gathers meanwhile.
    writing: Arc<tokio::sync::Mutex<()>>,
    max: usize,
}

impl<T, A> fmt::Debug for GroupCommit<T, A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let queued = self.queued.lock().map(|queued| queued.items.len()).unwrap_or_default();
        f.debug_struct("GroupCommit")
            .field("queued", &queued)
            .field("max", &self.max)
            .finish_non_exhaustive()
    }
}

struct Queued<T, A> {
    next_ticket: u64,
    items: Vec<(u64, T, Waiter<A>)>,
}

/// Who waits for a queued item's answer.
type Waiter<A> = oneshot::Sender<Result<A, GroupFailed>>;

impl<T: Send + 'static, A: Send + 'static> GroupCommit<T, A> {
    /// Groups of at most `max` items.
    pub fn new(max: usize) -> Self {
        Self {
            queued: Mutex::new(Queued {
                next_ticket: 0,
                items: Vec::new(),
            }),
            writing: Arc::default(),
            max: max.max(1),
        }
    }

    /// Writes `item` with the items other callers submit at the same moment, answering its own
    /// answer once their transaction committed, or the error that stopped it (then nothing of the
    /// group was written). `write` makes the writing of a group, in one transaction answering one
    /// answer per item, in order: every caller passes the same, and whoever holds the writing turn
    /// runs it.
    pub async fn submit<W, Fut>(&self, item: T, write: W) -> Result<A, GroupFailed>
    where
        W: Fn(Vec<T>) -> Fut,
        Fut: Future<Output = Result<Vec<A>, GroupFailed>> + Send + 'static,
    {
        let (done, mut answer) = oneshot::channel();
        let ticket = {
            let mut queued = self.queued.lock().unwrap_or_else(PoisonError::into_inner);
            queued.next_ticket += 1;
            let ticket = queued.next_ticket;
            queued.items.push((ticket, item, done));
            ticket
        };
        let abandoned = || GroupFailed("the group commit was abandoned".into());
        loop {
            let writing = self.writing.clone().lock_owned().await;
            match answer.try_recv() {
                Ok(result) => return result,
                // The write that took this item ended without an answer (it panicked).
                Err(oneshot::error::TryRecvError::Closed) => return Err(abandoned()),
                Err(oneshot::error::TryRecvError::Empty) => {}
            }
            let group: Vec<_> = {
                let mut queued = self.queued.lock().unwrap_or_else(PoisonError::into_inner);
                let take = queued.items.len().min(self.max);
                queued.items.drain(..take).collect()
            };
            if group.is_empty() {
                // Not queued and not answered: only a write that panicked leaves an item so.
                return Err(abandoned());
            }
            let ours = group.iter().any(|(queued, ..)| *queued == ticket);
            let (items, waiting): (Vec<T>, Vec<Waiter<A>>) =
                group.into_iter().map(|(_, item, done)| (item, done)).unzip();
            let count = items.len();
            let written = write(items);
            let write_group = async move {
                let _writing = writing;
                let answers = match written.await {
                    Ok(answers) if answers.len() == count => Ok(answers),
                    Ok(answers) => Err(GroupFailed(
                        format!("a group of {count} was answered {} times", answers.len()).into(),
                    )),
                    Err(error) => Err(error),
                };
                match answers {
                    Ok(answers) => {
                        for (waiter, answer) in waiting.into_iter().zip(answers) {
                            // A waiter that went away (its request was dropped) needs no answer.
                            let _ = waiter.send(Ok(answer));
                        }
                    }
                    Err(error) => {
                        for waiter in waiting {
                            let _ = waiter.send(Err(error.clone()));
                        }
                    }
                }
            };
            // The group's write runs to its end even if this caller goes away (its request was
            // dropped): the others of the group wait on it. It ends by itself, within the
            // database's own timeouts, and holds nothing a shutdown must stop.
            #[allow(clippy::disallowed_methods)]
            tokio::spawn(tracing::Instrument::in_current_span(write_group));
            if ours {
                return answer.await.unwrap_or_else(|_| Err(abandoned()));
            }
            // Earlier callers filled the group: this one's item is for the next turn.
        }
    }
}

#[cfg(test)]
mod tests;
