//! Delegation: never wider, and the actor chain nests correctly.

use serde_json::json;

use crate::testing::{Fixture, NOW, TTL, claims};
use crate::{
    DelegationError, DelegationRequest, Invalid, MAX_CLAIMS_BYTES, MAX_DELEGATION_DEPTH, Requirements, delegate,
    scope::MAX_SCOPES,
};

fn request(scope: &[&str], ttl: i64) -> DelegationRequest {
    DelegationRequest {
        scope: scope.iter().map(|scope| (*scope).to_owned()).collect(),
        ttl,
        sub_agent: "agent_sub".into(),
        audience: None,
    }
}

#[test]
fn a_narrower_delegation_is_signed_and_verifies_with_its_act_chain() {
    let fixture = Fixture::new();
    let parent = claims();
    let child = delegate(&parent, request(&["db.read", "secrets.read"], 60), NOW).expect("narrower");
    assert_eq!(child.sub, "agent_sub");
    assert_eq!(
        (child.iss.as_str(), child.account.as_str(), child.aud.as_str()),
        ("https://latchkey.test", "acct_7m2k", "billing")
    );
    assert_eq!((child.iat, child.nbf, child.exp), (NOW, NOW, NOW + 60));
    assert_ne!(child.jti, parent.jti);
    assert_eq!(child.intent, parent.intent);
    assert_eq!(
        serde_json::to_value(&child.act).expect("json"),
        json!({"sub": parent.sub, "jti": parent.jti})
    );

    let token = fixture.sign(&child);
    let required = ["db.read".to_owned()];
    let verified = fixture
        .verifier
        .verify(
            &token,
            &Requirements {
                audience: Some("billing"),
                scope: &required,
            },
            NOW,
        )
        .expect("valid");
    assert_eq!(verified, child);
}

#[test]
fn a_narrower_wildcard_is_fine_and_a_wider_scope_is_refused_by_name() {
    let parent = claims();
    assert!(delegate(&parent, request(&["db.read.*"], 60), NOW).is_ok());
    assert!(
        delegate(&parent, request(&["db.*"], 60), NOW).is_ok(),
        "the same pattern"
    );
    for wider in ["*", "secrets.*", "db", "billing.charge"] {
        let refused = delegate(&parent, request(&["db.read", wider], 60), NOW).expect_err(wider);
        assert_eq!(
            refused,
            DelegationError::ScopeWidened {
                scope: wider.to_owned()
            }
        );
        assert_eq!(refused.field(), "scope");
    }
    assert_eq!(
        delegate(&parent, request(&[], 60), NOW),
        Err(DelegationError::EmptyScope)
    );
}

#[test]
fn a_lifetime_beyond_the_parent_is_refused_with_the_longest_allowed() {
    let parent = claims();
    let later = NOW + 100;
    assert!(
        delegate(&parent, request(&["db.read"], TTL - 100), later).is_ok(),
        "ends with the parent"
    );
    let refused = delegate(&parent, request(&["db.read"], TTL - 99), later).expect_err("outlives the parent");
    assert_eq!(refused, DelegationError::TtlExceedsParent { max_ttl: TTL - 100 });
    assert_eq!(refused.field(), "ttl");
    assert_eq!(
        delegate(&parent, request(&["db.read"], 0), NOW),
        Err(DelegationError::TtlNotPositive)
    );
    assert_eq!(
        delegate(&parent, request(&["db.read"], 60), parent.exp),
        Err(DelegationError::ParentNotValid)
    );
}

#[test]
fn an_audience_may_narrow_from_any_but_never_widen() {
    let mut parent = claims();
    let with_audience = |audience: &str| DelegationRequest {
        audience: Some(audience.into()),
        ..request(&["db.read"], 60)
    };

    let refused = delegate(&parent, with_audience("any"), NOW).expect_err("billing -> any");
    assert_eq!(
        refused,
        DelegationError::AudienceWidened {
            parent: "billing".into()
        }
    );
    assert_eq!(refused.field(), "audience");
    assert!(
        delegate(&parent, with_audience("reports"), NOW).is_err(),
        "billing -> reports"
    );
    assert_eq!(
        delegate(&parent, with_audience("billing"), NOW).map(|child| child.aud),
        Ok("billing".into())
    );

    parent.aud = "any".into();
    assert_eq!(
        delegate(&parent, with_audience("reports"), NOW).map(|child| child.aud),
        Ok("reports".into())
    );
    assert_eq!(
        delegate(&parent, request(&["db.read"], 60), NOW).map(|child| child.aud),
        Ok("any".into())
    );
}

#[test]
fn two_levels_deep_the_chain_nests_most_recent_delegator_outermost() {
    let root = claims();
    let middle = delegate(&root, request(&["db.*"], 120), NOW).expect("first level");
    let leaf_request = DelegationRequest {
        sub_agent: "agent_leaf".into(),
        ..request(&["db.read"], 60)
    };
    let leaf = delegate(&middle, leaf_request, NOW + 10).expect("second level");
    assert_eq!(leaf.delegation_depth(), 2);
    assert_eq!(
        serde_json::to_value(&leaf.act).expect("json"),
        json!({"sub": "agent_sub", "jti": middle.jti, "act": {"sub": root.sub, "jti": root.jti}})
    );
    // Never wider than any ancestor: the middle token's narrowing binds the leaf.
    let wider = DelegationRequest {
        sub_agent: "agent_leaf".into(),
        ..request(&["secrets.read"], 60)
    };
    assert!(matches!(
        delegate(&middle, wider, NOW),
        Err(DelegationError::ScopeWidened { .. })
    ));
}

#[test]
fn revoking_the_root_token_or_a_delegating_agent_revokes_the_delegated_tokens() {
    let fixture = Fixture::new();
    let root = claims();
    let middle = delegate(&root, request(&["db.*"], 120), NOW).expect("first level");
    let leaf_request = DelegationRequest {
        sub_agent: "agent_leaf".into(),
        ..request(&["db.read"], 60)
    };
    let leaf = delegate(&middle, leaf_request, NOW).expect("second level");
    let token = fixture.sign(&leaf);
    let verify = || fixture.verifier.verify(&token, &Requirements::default(), NOW);
    assert!(verify().is_ok());
    fixture.revocations.revoke_agent("agent_sub", NOW - 1);
    assert_eq!(
        verify(),
        Err(Invalid::AgentRevoked),
        "revoked before the leaf was issued, still covered"
    );

    let fixture = Fixture::new();
    let token = fixture.sign(&leaf);
    fixture.revocations.revoke_token(&root.jti, root.exp);
    assert_eq!(
        fixture.verifier.verify(&token, &Requirements::default(), NOW),
        Err(Invalid::TokenRevoked)
    );
}

#[test]
fn the_chain_depth_is_bounded() {
    let mut token = claims();
    let to = |level: usize| DelegationRequest {
        sub_agent: format!("agent_level_{level}"),
        ..request(&["db.read"], 10)
    };
    for level in 0..MAX_DELEGATION_DEPTH {
        token = delegate(&token, to(level), NOW).unwrap_or_else(|error| panic!("level {level}: {error}"));
    }
    assert_eq!(token.delegation_depth(), MAX_DELEGATION_DEPTH);
    let refused = delegate(&token, to(MAX_DELEGATION_DEPTH), NOW).expect_err("too deep");
    assert_eq!(refused.field(), "token");
    assert_eq!(refused, DelegationError::TooDeep);
}

#[test]
fn an_agent_cannot_delegate_to_itself_nor_back_up_its_chain() {
    let root = claims();
    let to_self = DelegationRequest {
        sub_agent: root.sub.clone(),
        ..request(&["db.read"], 60)
    };
    let refused = delegate(&root, to_self, NOW).expect_err("delegating to oneself");
    assert_eq!(refused.field(), "sub_agent");
    assert!(matches!(refused, DelegationError::SubAgentInChain { .. }));

    let middle = delegate(&root, request(&["db.*"], 120), NOW).expect("first level");
    let back_to_root = DelegationRequest {
        sub_agent: root.sub.clone(),
        ..request(&["db.read"], 60)
    };
    assert!(matches!(
        delegate(&middle, back_to_root, NOW),
        Err(DelegationError::SubAgentInChain { .. })
    ));
}

#[test]
fn delegated_scopes_are_checked_and_capped_like_issued_ones() {
    let mut root = claims();
    root.scope = vec!["*".to_owned()];
    let many: Vec<String> = (0..=MAX_SCOPES).map(|i| format!("db.t{i}.read")).collect();
    let too_many = DelegationRequest {
        scope: many,
        ..request(&[], 60)
    };
    assert_eq!(delegate(&root, too_many, NOW), Err(DelegationError::TooManyScopes));
    for bad in ["*.read", "db..read", "db read", "sec*"] {
        let refused = delegate(&root, request(&[bad], 60), NOW).expect_err(bad);
        assert!(matches!(refused, DelegationError::BadScope { .. }), "{bad}: {refused}");
        assert_eq!(refused.field(), "scope");
    }
}

#[test]
fn a_delegated_token_stays_within_the_size_of_a_header() {
    let mut root = claims();
    root.scope = vec!["*".to_owned()];
    root.intent = Some("\u{1F600}".repeat(500));
    let long: Vec<String> = (0..MAX_SCOPES).map(|i| format!("{}.{i:03}", "s".repeat(120))).collect();
    let huge = DelegationRequest {
        scope: long,
        ..request(&[], 60)
    };
    assert_eq!(delegate(&root, huge, NOW), Err(DelegationError::TooLarge));
    let fits = delegate(&root, request(&["db.read"], 60), NOW).expect("a small delegation");
    assert!(serde_json::to_vec(&fits).expect("json").len() <= MAX_CLAIMS_BYTES);
}
