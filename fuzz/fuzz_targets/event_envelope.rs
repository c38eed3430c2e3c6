//! The event envelope (`latchkey_events::Envelope::from_json`), as every bus consumer decodes it
//! from NATS or the event table: any bytes decode or fail without panicking; a decoded envelope
//! encodes and decodes back to itself (the relay and the buses move it as JSON); every filter of its
//! own type matches it; and what a verifier does with a `token.revoked` or `agent.revoked` envelope
//! (the revocation feed's `apply`, then pruning) keeps the revocation for as long as the token or
//! agent it names could still verify.
//!
//! Input: the envelope's JSON bytes.
#![no_main]

use latchkey_events::catalogue::{AgentRevoked, TokenRevoked};
use latchkey_events::{Envelope, EventFilter};
use latchkey_tokens::fuzzing::apply_revocation_event;
use latchkey_tokens::{Claims, MAX_LEEWAY_SECS, RevocationSet};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(envelope) = Envelope::from_json(data) else {
        return;
    };
    let json = envelope.to_json();
    assert!(!json.is_empty(), "a decoded envelope did not encode: {envelope:?}");
    let again = Envelope::from_json(&json).expect("an encoded envelope decodes");
    assert_eq!(
        again,
        envelope,
        "the envelope changed through {}",
        String::from_utf8_lossy(&json)
    );

    assert!(EventFilter::all().matches(&envelope));
    assert!(EventFilter::event_type(&envelope.event_type).matches(&envelope));
    let _ = envelope.subject_under("latchkey");

    revocations_hold(&envelope);
});

/// Applies the envelope to an empty revocation set and checks what it revoked stays revoked.
fn revocations_hold(envelope: &Envelope) {
    let set = RevocationSet::new();
    apply_revocation_event(&set, envelope);
    let data = || envelope.data.clone();
    match envelope.event_type.as_str() {
        "token.revoked" => {
            let Ok(TokenRevoked { jti, expires_at, .. }) = serde_json::from_value(data()) else {
                return;
            };
            let token = claims("agent_x", &jti, expires_at.saturating_sub(60), expires_at);
            assert!(set.is_revoked(&token), "token.revoked did not revoke {jti:?}");
            // Pruned at any moment a verifier with the largest leeway would still take the token
            // (its expiry rule: `now < exp + leeway`, saturating), it stays revoked.
            let still_valid = |now: i64| now < expires_at.saturating_add(MAX_LEEWAY_SECS);
            let moments = [
                expires_at.saturating_sub(1),
                expires_at,
                expires_at.saturating_add(MAX_LEEWAY_SECS - 1),
            ];
            for now in moments.into_iter().filter(|now| still_valid(*now)) {
                set.prune(now);
                assert!(
                    set.is_revoked(&token),
                    "pruning at {now} dropped a revocation expiring at {expires_at}"
                );
            }
        }
        "agent.revoked" => {
            let Ok(AgentRevoked { agent_id: agent, at_ms }) = serde_json::from_value(data()) else {
                return;
            };
            // A token issued in the same second as the revocation is revoked too.
            let token = claims(
                &agent,
                "tok_x",
                at_ms.div_euclid(1000),
                at_ms.div_euclid(1000).saturating_add(300),
            );
            set.prune(at_ms.div_euclid(1000));
            assert!(
                set.is_revoked(&token),
                "agent.revoked at {at_ms} ms did not revoke a token of that second"
            );
        }
        _ => {}
    }
}

fn claims(sub: &str, jti: &str, iat: i64, exp: i64) -> Claims {
    Claims {
        iss: "latchkey".into(),
        sub: sub.into(),
        aud: "any".into(),
        scope: vec!["db.read".into()],
        exp,
        iat,
        nbf: iat,
        jti: jti.into(),
        account: "acct_x".into(),
        intent: None,
        act: None,
    }
}
