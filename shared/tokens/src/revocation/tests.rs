use super::super::Actor;
use super::super::testing::{NOW, claims};
use super::*;

#[test]
fn a_revoked_token_is_revoked_until_it_has_expired_beyond_the_leeway() {
    let set = RevocationSet::new();
    let claims = claims();
    assert_eq!(set.revoked(&claims), None);
    set.revoke_token(&claims.jti, claims.exp);
    assert_eq!(set.revoked(&claims), Some(Revoked::Token));
    assert_eq!(set.prune(claims.exp + MAX_LEEWAY_SECS - 1), 0);
    assert_eq!(set.revoked(&claims), Some(Revoked::Token));
    assert_eq!(set.prune(claims.exp + MAX_LEEWAY_SECS), 1);
    assert_eq!(set.token_count(), 0);
}

/// Caught by the `event_envelope` fuzz target's revocation property (on an input written while
/// reading this code; 46 million runs did not reach it alone): a `token.revoked` event whose
/// expiry is within the leeway of `i64::MAX` overflowed pruning (a panic with overflow checks;
/// without them the entry was dropped and the token it names, which never expires, verified
/// again).
#[test]
fn a_revocation_expiring_at_the_end_of_time_is_kept() {
    let set = RevocationSet::new();
    let claims = super::super::Claims {
        exp: i64::MAX,
        ..claims()
    };
    set.revoke_token(&claims.jti, claims.exp);
    assert_eq!(set.prune(NOW), 0);
    assert_eq!(set.prune(i64::MAX - 1), 0);
    assert_eq!(set.revoked(&claims), Some(Revoked::Token));
}

#[test]
fn an_agent_revocation_covers_tokens_issued_up_to_it_and_is_never_pruned() {
    let set = RevocationSet::new();
    let claims = claims();
    set.revoke_agent(&claims.sub, claims.iat - 1);
    assert_eq!(set.revoked(&claims), None, "issued after the revocation time");
    set.revoke_agent(&claims.sub, claims.iat);
    assert_eq!(set.revoked(&claims), Some(Revoked::Agent));
    set.revoke_agent(&claims.sub, claims.iat - 10);
    assert_eq!(
        set.revoked(&claims),
        Some(Revoked::Agent),
        "an older replay does not narrow it"
    );
    set.prune(NOW + 1_000_000);
    assert_eq!(set.agent_count(), 1);
    assert!(set.is_revoked(&claims));
}

#[test]
fn revoking_a_delegating_token_or_agent_revokes_what_was_delegated_from_it() {
    let set = RevocationSet::new();
    let mut delegated = claims();
    delegated.act = Some(Actor {
        sub: "agent_middle".into(),
        jti: Some("tok_middle".into()),
        act: Some(Box::new(Actor {
            sub: "agent_root".into(),
            jti: Some("tok_root".into()),
            act: None,
        })),
    });
    set.revoke_token("tok_root", NOW + 600);
    assert_eq!(set.revoked(&delegated), Some(Revoked::Token));

    let set = RevocationSet::new();
    set.revoke_agent("agent_middle", NOW - 100);
    assert_eq!(set.revoked(&delegated), Some(Revoked::Agent));
}
