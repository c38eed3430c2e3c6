//! The set of signing keys, their rotation and the JWKS they publish.

use super::{KeySchedule, MAX_LEEWAY_SECS, SigningKey};

/// Every signing key still signing or still published, ordered by activation.
///
/// Rotation never removes a key that may have signed a live token: [`rotate`](Self::rotate) retires
/// the current key when its successor activates, and [`prune`](Self::prune) only drops it once every
/// token it signed has expired.
#[derive(Clone, Debug, Default)]
pub struct KeyRing {
    keys: Vec<SigningKey>,
}

impl KeyRing {
    /// An empty ring; [`issue`](super::issue) fails until a key is added.
    pub fn new() -> Self {
        Self::default()
    }

    /// A ring of stored keys, as loaded at start-up.
    pub fn from_keys(keys: impl IntoIterator<Item = SigningKey>) -> Self {
        let mut ring = Self::new();
        for key in keys {
            ring.insert(key);
        }
        ring
    }

    /// A ring with one new key that signs from `now` on: the first key of a deployment.
    pub fn with_new_key(now: i64) -> Self {
        Self::from_keys([SigningKey::generate(KeySchedule::new(now, now))])
    }

    /// Adds a key, keeping the ring ordered by activation (then creation).
    pub fn insert(&mut self, key: SigningKey) {
        self.insert_ordered(key);
    }

    fn insert_ordered(&mut self, key: SigningKey) -> usize {
        let order = |key: &SigningKey| (key.schedule.activates_at, key.schedule.created_at);
        let at = self.keys.partition_point(|existing| order(existing) <= order(&key));
        self.keys.insert(at, key);
        at
    }

    /// All keys, oldest activation first (for persisting their schedules).
    pub fn keys(&self) -> &[SigningKey] {
        &self.keys
    }

    /// The key that signs at `now`: the newest one whose activation time has passed and that is not
    /// retired yet.
    pub fn active_signer(&self, now: i64) -> Option<&SigningKey> {
        self.keys.iter().rev().find(|key| key.schedule.signs_at(now))
    }

    /// The keys in the JWKS at `now`.
    pub fn published(&self, now: i64) -> impl Iterator<Item = &SigningKey> {
        self.keys.iter().filter(move |key| key.schedule.is_published_at(now))
    }

    /// Adds a new key, published at once, that signs from `now + publish_lead` (seconds) so that
    /// JWKS caches hold it before its first token arrives. Every key that would still sign then is
    /// retired at that moment and stays published until the last token it could have signed has
    /// expired: `max_token_ttl` seconds later, plus [`MAX_LEEWAY_SECS`] so a verifier tolerating
    /// clock skew still finds the key. Returns the new key (to persist it; the retired keys'
    /// schedules changed too, see [`keys`](Self::keys)).
    pub fn rotate(&mut self, now: i64, publish_lead: i64, max_token_ttl: i64) -> &SigningKey {
        let activates_at = now + publish_lead.max(0);
        for key in &mut self.keys {
            let schedule = &mut key.schedule;
            if schedule.retires_at.is_none_or(|retires| retires > activates_at) {
                schedule.retires_at = Some(activates_at);
                schedule.published_until = Some(activates_at + max_token_ttl.max(0) + MAX_LEEWAY_SECS);
            }
        }
        let at = self.insert_ordered(SigningKey::generate(KeySchedule::new(now, activates_at)));
        &self.keys[at]
    }

    /// Drops the keys no longer published at `now` and returns their kids (to delete them from storage).
    pub fn prune(&mut self, now: i64) -> Vec<String> {
        let (kept, dropped): (Vec<_>, Vec<_>) = std::mem::take(&mut self.keys)
            .into_iter()
            .partition(|key| key.schedule.published_until.is_none_or(|until| now < until));
        self.keys = kept;
        dropped.into_iter().map(|key| key.kid().to_owned()).collect()
    }

    /// The JWKS document (RFC 7517) of the keys published at `now`: public members only.
    pub fn jwks(&self, now: i64) -> serde_json::Value {
        let keys: Vec<serde_json::Value> = self.published(now).map(SigningKey::public_jwk).collect();
        serde_json::json!({ "keys": keys })
    }
}

#[cfg(test)]
mod tests;
