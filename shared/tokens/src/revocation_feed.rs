//! Keeping a [`RevocationSet`] current from the event stream, for any service that verifies tokens
//! (agent-token's gRPC verifier, the gateway's REST verifier). On start it replays the revocations
//! of the last [`REVOCATION_HISTORY_SECS`] (anything older names tokens that have expired anyway),
//! then follows new ones; `caught_up` turns true once the replay is done, and a verifier must refuse
//! to answer until then rather than risk accepting a revoked token. Expired entries are pruned
//! every minute, so the set holds only what can still matter.

use std::{sync::Arc, time::Duration};

use latchkey_events::{
    Envelope, EventBus, EventFilter, EventType,
    catalogue::{AgentRevoked, TokenRevoked},
};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::{MAX_LEEWAY_SECS, MAX_TTL_SECS, RevocationSet};

/// How far back the replay starts: the longest token lifetime plus the largest leeway on both ends.
pub const REVOCATION_HISTORY_SECS: i64 = MAX_TTL_SECS + 2 * MAX_LEEWAY_SECS;

const PRUNE_EVERY: Duration = Duration::from_secs(60);

/// Replays and follows `token.revoked` and `agent.revoked` into `revocations` until `shutdown`.
pub async fn follow_revocations(
    revocations: Arc<RevocationSet>,
    bus: EventBus,
    caught_up: watch::Sender<bool>,
    shutdown: CancellationToken,
) {
    let since = chrono::Utc::now() - chrono::Duration::seconds(REVOCATION_HISTORY_SECS);
    let filters = vec![
        EventFilter::event_type(EventType::TokenRevoked.as_str()),
        EventFilter::event_type(EventType::AgentRevoked.as_str()),
    ];
    // Pruning runs beside the projection, in the same task: both end on `shutdown`.
    let prune = {
        let revocations = revocations.clone();
        let shutdown = shutdown.clone();
        async move {
            let mut every = tokio::time::interval(PRUNE_EVERY);
            loop {
                tokio::select! {
                    _ = shutdown.cancelled() => return,
                    _ = every.tick() => { revocations.prune(chrono::Utc::now().timestamp()); }
                }
            }
        }
    };
    let project = latchkey_events::run_projection(
        bus,
        filters,
        since,
        move |envelope: &Envelope| apply(&revocations, envelope),
        caught_up,
        shutdown.cancelled_owned(),
    );
    tokio::join!(project, prune);
}

/// Applies one revocation event to the set; other events are ignored. Public for the fuzz targets
/// only ([`crate::fuzzing`]).
pub fn apply(revocations: &RevocationSet, envelope: &Envelope) {
    match EventType::parse(&envelope.event_type) {
        Some(EventType::TokenRevoked) => match serde_json::from_value::<TokenRevoked>(envelope.data.clone()) {
            Ok(event) => revocations.revoke_token(event.jti, event.expires_at),
            Err(error) => tracing::error!(event_id = %envelope.id, %error, "unreadable token.revoked event"),
        },
        Some(EventType::AgentRevoked) => match serde_json::from_value::<AgentRevoked>(envelope.data.clone()) {
            // Tokens carry whole seconds: round up so a token issued in the same second as the
            // revocation is caught too.
            Ok(event) => revocations.revoke_agent(event.agent_id, event.at_ms.div_euclid(1000) + 1),
            Err(error) => tracing::error!(event_id = %envelope.id, %error, "unreadable agent.revoked event"),
        },
        _ => {}
    }
}
