//! Verifying agent tokens with no database lookup: the published keys are held in memory, and so is
//! the set of revoked tokens and agents, rebuilt on start by replaying the last day of revocation
//! events (older ones name tokens that have expired anyway) and kept current from the live stream.
//! Until the replay has caught up, verification answers "unavailable" rather than risk accepting a
//! revoked token.

use std::sync::{Arc, RwLock};

use latchkey_events::EventBus;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::{
    SigningKeys,
    signing::now_secs,
    tokens::{self, Claims, Invalid, Requirements, RevocationSet, Verifier},
};

/// How long a built verifier serves before it is rebuilt anyway (keys leave the JWKS over time).
const VERIFIER_MAX_AGE_SECS: i64 = 60;

/// The outcome of one verification.
pub type Verdict = Result<Claims, Invalid>;

/// Everything verification needs, in memory. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Verification {
    keys: SigningKeys,
    revocations: Arc<RevocationSet>,
    cached: Arc<RwLock<Option<CachedVerifier>>>,
    caught_up: watch::Receiver<bool>,
    /// Taken by the one task that follows the stream.
    caught_up_tx: Arc<std::sync::Mutex<Option<watch::Sender<bool>>>>,
}

#[derive(Debug)]
struct CachedVerifier {
    generation: u64,
    built_at: i64,
    verifier: Arc<Verifier>,
}

impl Verification {
    pub fn new(keys: SigningKeys) -> Self {
        let (caught_up_tx, caught_up) = watch::channel(false);
        Self {
            keys,
            revocations: Arc::new(RevocationSet::new()),
            cached: Arc::new(RwLock::new(None)),
            caught_up,
            caught_up_tx: Arc::new(std::sync::Mutex::new(Some(caught_up_tx))),
        }
    }

    /// Whether the revocation set has caught up with the event stream.
    pub fn is_ready(&self) -> bool {
        *self.caught_up.borrow()
    }

    /// Verifies `token` against `requirements`. `None` while not ready.
    pub fn verify(&self, token: &str, requirements: &Requirements<'_>) -> Option<Verdict> {
        if !self.is_ready() {
            return None;
        }
        Some(self.verifier().verify(token, requirements, now_secs()))
    }

    /// Verifies signature, key and time only: for revocation, which must accept any genuine token.
    pub fn check_signature(&self, token: &str) -> Option<Verdict> {
        self.verify(token, &Requirements::default())
    }

    /// The claims of a token whose signature verifies with a published key, however stale or
    /// revoked it is; `None` for anything else.
    pub fn unverified_claims(&self, token: &str) -> Option<Claims> {
        self.verifier().claims_of_signed(token)
    }

    /// Records a revocation made here at once, before its event comes back from the bus.
    pub fn revoke_token_now(&self, jti: &str, exp: i64) {
        self.revocations.revoke_token(jti, exp);
    }

    fn verifier(&self) -> Arc<Verifier> {
        let now = now_secs();
        let generation = self.keys.generation();
        if let Ok(cached) = self.cached.read()
            && let Some(cached) = cached.as_ref()
            && cached.generation == generation
            && now - cached.built_at < VERIFIER_MAX_AGE_SECS
        {
            return cached.verifier.clone();
        }
        let verifier = Arc::new(
            self.keys
                .read(|ring| Verifier::from_key_ring(ring, now, self.revocations.clone())),
        );
        if let Ok(mut cached) = self.cached.write() {
            *cached = Some(CachedVerifier {
                generation,
                built_at: now,
                verifier: verifier.clone(),
            });
        }
        verifier
    }

    /// Replays and follows the revocation events until `shutdown`, pruning expired entries.
    pub async fn follow(self, bus: EventBus, shutdown: CancellationToken) {
        let Some(caught_up) = self.caught_up_tx.lock().ok().and_then(|mut tx| tx.take()) else {
            tracing::error!("the revocation stream is followed already");
            return;
        };
        tokens::follow_revocations(self.revocations.clone(), bus, caught_up, shutdown).await;
    }
}
