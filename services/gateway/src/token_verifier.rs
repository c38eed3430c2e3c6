//! Agent tokens verified in the gateway itself, as any relying service would: with the published
//! keys and a revocation set in memory, no call to agent-token and no database lookup per request.
//!
//! - Keys come from agent-token's JWKS, fetched on start and every [`KEY_REFRESH_EVERY`]. A signing
//!   key is published at least its publish lead (default 10 minutes) before it signs, so the
//!   periodic fetch holds it in time; a token naming an unknown kid still triggers one fetch (at
//!   most one per [`UNKNOWN_KID_REFETCH_AFTER`]) so a short lead cannot make a fresh token fail.
//! - Revocations come from the event stream (`latchkey_tokens::follow_revocations`): the last day
//!   replayed on start, new ones as they are published, and those made through this gateway at
//!   once. Until the replay has caught up, and until keys were first fetched, verification answers
//!   503 rather than risk accepting a revoked token.
//! - Tokens found authentic are remembered (`gateway.verified_token_cache`) by the verifier of the
//!   keys that checked them: a token verified again skips only its signature check.

/// The audience of an agent token for Latchkey itself (its context, MCP tools, the credential
/// proxy); a token that names no service (`any`) is for Latchkey too.
pub(crate) const LATCHKEY_AUDIENCE: &str = "latchkey";

use std::{
    sync::{Arc, PoisonError, RwLock},
    time::{Duration, Instant},
};

use latchkey_events::EventBus;
use latchkey_proto::agent_token::v1::{GetJwksRequest, agent_token_service_client::AgentTokenServiceClient};
use latchkey_server::{MeshChannel, Tasks};
use latchkey_tokens::{Claims, Invalid, Requirements, RevocationSet, Verifier};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

/// How often the published keys are fetched again.
const KEY_REFRESH_EVERY: Duration = Duration::from_secs(30);
/// The least time between two fetches caused by tokens naming unknown keys (forged tokens must not
/// turn into a flood of JWKS requests).
const UNKNOWN_KID_REFETCH_AFTER: Duration = Duration::from_secs(1);
/// Retry delay after a failed fetch while no keys are held yet.
const FIRST_FETCH_RETRY: Duration = Duration::from_millis(200);

/// The outcome of one verification.
pub(crate) type Verdict = Result<Claims, Invalid>;

/// Keys, revocations, and the tasks that keep them current (stopped when the last clone is dropped).
#[derive(Clone)]
pub(crate) struct TokenVerifier {
    inner: Arc<Inner>,
}

struct Inner {
    agent_token: AgentTokenServiceClient<MeshChannel>,
    revocations: Arc<RevocationSet>,
    verifier: RwLock<Option<Arc<Verifier>>>,
    cache_entries: usize,
    last_fetch: tokio::sync::Mutex<Option<Instant>>,
    caught_up: watch::Receiver<bool>,
    stop: CancellationToken,
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

impl TokenVerifier {
    /// Starts following revocations on `bus` and fetching keys from `agent_token`.
    /// `cache_entries` bounds the tokens remembered as authentic (0: none).
    pub(crate) fn start(
        agent_token: AgentTokenServiceClient<MeshChannel>,
        bus: EventBus,
        cache_entries: usize,
    ) -> Self {
        let (caught_up_tx, caught_up) = watch::channel(false);
        let stop = CancellationToken::new();
        let tasks = Tasks::with_shutdown("gateway", stop.clone());
        let revocations = Arc::new(RevocationSet::new());
        let inner = Arc::new(Inner {
            agent_token,
            revocations: revocations.clone(),
            verifier: RwLock::new(None),
            cache_entries,
            last_fetch: tokio::sync::Mutex::new(None),
            caught_up,
            stop: stop.clone(),
        });
        tasks.spawn(
            "revocations",
            latchkey_tokens::follow_revocations(revocations, bus, caught_up_tx, stop.clone()),
        );
        // The refresher holds only a weak reference, so dropping the gateway ends it.
        let weak = Arc::downgrade(&inner);
        tasks.spawn("jwks-refresh", async move {
            let mut delay = Duration::ZERO;
            loop {
                tokio::select! {
                    _ = stop.cancelled() => return,
                    _ = tokio::time::sleep(delay) => {}
                }
                let Some(inner) = weak.upgrade() else { return };
                let fetched = inner.fetch_keys().await;
                let has_keys = inner.current().is_some();
                delay = if fetched || has_keys {
                    KEY_REFRESH_EVERY
                } else {
                    FIRST_FETCH_RETRY
                };
            }
        });
        Self { inner }
    }

    /// Verifies `token`; `None` while the keys or the revocation set are not ready.
    pub(crate) async fn verify(&self, token: &str, requirements: &Requirements<'_>) -> Option<Verdict> {
        if !*self.inner.caught_up.borrow() {
            return None;
        }
        let verifier = self.inner.current()?;
        let verdict = verifier.verify(token, requirements, now_secs());
        if verdict != Err(Invalid::UnknownKey) || !self.inner.refetch_for_unknown_kid().await {
            return Some(verdict);
        }
        let verifier = self.inner.current()?;
        Some(verifier.verify(token, requirements, now_secs()))
    }

    /// Records a revocation made through this gateway before its event comes back from the bus.
    pub(crate) fn revoked_now(&self, jti: &str, expires_at: i64) {
        self.inner.revocations.revoke_token(jti, expires_at);
    }
}

impl Inner {
    fn current(&self) -> Option<Arc<Verifier>> {
        self.verifier.read().unwrap_or_else(PoisonError::into_inner).clone()
    }

    /// Fetches the JWKS and swaps in a verifier of its keys; false when that failed (the previous
    /// keys stay in use).
    async fn fetch_keys(&self) -> bool {
        let mut last_fetch = self.last_fetch.lock().await;
        self.fetch_keys_holding(&mut last_fetch).await
    }

    /// [`Self::fetch_keys`] for a caller that holds `last_fetch`, so concurrent callers wait for it.
    async fn fetch_keys_holding(&self, last_fetch: &mut Option<Instant>) -> bool {
        *last_fetch = Some(Instant::now());
        let answer = self.agent_token.clone().get_jwks(GetJwksRequest {}).await;
        let jwks = match answer.map(|response| serde_json::from_str(&response.into_inner().jwks_json)) {
            Ok(Ok(jwks)) => jwks,
            Ok(Err(error)) => {
                tracing::warn!(%error, "agent-token's JWKS is not JSON");
                return false;
            }
            Err(status) => {
                tracing::warn!(code = ?status.code(), message = status.message(), "cannot fetch the token keys");
                return false;
            }
        };
        match Verifier::from_jwks(&jwks, self.revocations.clone()) {
            Ok(verifier) => {
                let mut current = self.verifier.write().unwrap_or_else(PoisonError::into_inner);
                // The same keys as before: keep the verifier, and with it the tokens it found
                // authentic. New keys (or none before) start afresh.
                let same_keys = current.as_ref().is_some_and(|held| held.same_keys(&verifier));
                if !same_keys {
                    *current = Some(Arc::new(verifier.with_cache(self.cache_entries)));
                }
                true
            }
            Err(error) => {
                tracing::warn!(%error, "agent-token's JWKS holds an unusable key");
                false
            }
        }
    }

    /// Fetches the keys again unless that was done within [`UNKNOWN_KID_REFETCH_AFTER`]; true when
    /// keys newer than the caller's verdict are held (fetched now, or by a concurrent caller it
    /// waited for), so verifying again is worth it.
    async fn refetch_for_unknown_kid(&self) -> bool {
        let asked_at = Instant::now();
        let mut last_fetch = self.last_fetch.lock().await;
        match *last_fetch {
            Some(at) if at >= asked_at => return true,
            Some(at) if at.elapsed() < UNKNOWN_KID_REFETCH_AFTER => return false,
            _ => {}
        }
        self.fetch_keys_holding(&mut last_fetch).await
    }
}

fn now_secs() -> i64 {
    chrono::Utc::now().timestamp()
}
