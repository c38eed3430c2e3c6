//! Revoked tokens and agents, held in memory for the verifier.

use std::collections::HashMap;
use std::sync::{PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

use super::{Claims, MAX_LEEWAY_SECS};

/// Which revocation a token falls under.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Revoked {
    /// The token, or a token it was delegated from, was revoked.
    Token,
    /// The agent it was issued to, or an agent that delegated it, was revoked.
    Agent,
}

/// The revocations a verifier checks, shared between the verifier (many concurrent readers) and the
/// task applying revocation events (an occasional writer).
///
/// A token entry is kept until the token has expired beyond any verifier's leeway
/// ([`MAX_LEEWAY_SECS`]); after that the token fails on its expiry anyway, so [`prune`](Self::prune)
/// drops it and the set stays as small as the number of live revoked tokens. Agent revocations are
/// permanent and small, so they are kept.
#[derive(Debug, Default)]
pub struct RevocationSet {
    entries: RwLock<Entries>,
}

#[derive(Debug, Default)]
struct Entries {
    /// jti → the token's expiry.
    tokens: HashMap<String, i64>,
    /// agent id → the revocation time.
    agents: HashMap<String, i64>,
}

impl RevocationSet {
    /// An empty set.
    pub fn new() -> Self {
        Self::default()
    }

    /// Revokes the token `jti`, which expires at `exp`. Every token delegated from it is revoked too.
    pub fn revoke_token(&self, jti: impl Into<String>, exp: i64) {
        let mut entries = self.write();
        let kept = entries.tokens.entry(jti.into()).or_insert(exp);
        *kept = (*kept).max(exp);
    }

    /// Revokes the agent at time `at`: its tokens issued at or before `at` become invalid, and so do
    /// tokens it delegated (whatever their issue time: a delegated token is issued after the token it
    /// came from, so only the agent's own tokens can be compared with `at`).
    pub fn revoke_agent(&self, agent_id: impl Into<String>, at: i64) {
        let mut entries = self.write();
        let kept = entries.agents.entry(agent_id.into()).or_insert(at);
        // Replayed or repeated events may disagree; the later time covers more tokens.
        *kept = (*kept).max(at);
    }

    /// Which revocation, if any, `claims` fall under. Token revocations are reported first.
    pub fn revoked(&self, claims: &Claims) -> Option<Revoked> {
        let entries = self.read();
        if entries.tokens.is_empty() && entries.agents.is_empty() {
            return None;
        }
        let token_revoked = |jti: &str| entries.tokens.contains_key(jti);
        if token_revoked(&claims.jti)
            || claims
                .actors()
                .filter_map(|actor| actor.jti.as_deref())
                .any(token_revoked)
        {
            return Some(Revoked::Token);
        }
        let subject_revoked = entries.agents.get(&claims.sub).is_some_and(|&at| claims.iat <= at);
        if subject_revoked || claims.actors().any(|actor| entries.agents.contains_key(&actor.sub)) {
            return Some(Revoked::Agent);
        }
        None
    }

    /// Whether `claims` fall under any revocation.
    pub fn is_revoked(&self, claims: &Claims) -> bool {
        self.revoked(claims).is_some()
    }

    /// Drops the token entries that can no longer matter at `now` and returns how many it dropped.
    pub fn prune(&self, now: i64) -> usize {
        let mut entries = self.write();
        let before = entries.tokens.len();
        // Saturating: a token expiring within the leeway of the end of time never expires.
        entries
            .tokens
            .retain(|_, exp| now < exp.saturating_add(MAX_LEEWAY_SECS));
        before - entries.tokens.len()
    }

    /// How many token revocations are held.
    pub fn token_count(&self) -> usize {
        self.read().tokens.len()
    }

    /// How many agent revocations are held.
    pub fn agent_count(&self) -> usize {
        self.read().agents.len()
    }

    // A panic while holding the lock cannot leave the maps half-updated (each write is one map
    // operation), so a poisoned lock is still safe to use.
    fn read(&self) -> RwLockReadGuard<'_, Entries> {
        self.entries.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn write(&self) -> RwLockWriteGuard<'_, Entries> {
        self.entries.write().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests;
