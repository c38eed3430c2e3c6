use serde_json::json;

use super::*;

fn claims(act: Option<Actor>) -> Claims {
    Claims {
        iss: "latchkey".into(),
        sub: "agent_c".into(),
        aud: "any".into(),
        scope: vec!["db.read".into()],
        exp: 200,
        iat: 100,
        nbf: 100,
        jti: "tok_c".into(),
        account: "acct_1".into(),
        intent: None,
        act,
    }
}

#[test]
fn optional_members_are_left_out_of_the_json_when_absent() {
    let value = serde_json::to_value(claims(None)).expect("serialise");
    assert_eq!(
        value,
        json!({"iss": "latchkey", "sub": "agent_c", "aud": "any", "scope": ["db.read"], "exp": 200,
               "iat": 100, "nbf": 100, "jti": "tok_c", "account": "acct_1"})
    );
}

#[test]
fn the_actor_chain_nests_most_recent_first_and_counts_its_depth() {
    let chain = Actor {
        sub: "agent_b".into(),
        jti: Some("tok_b".into()),
        act: Some(Box::new(Actor {
            sub: "agent_a".into(),
            jti: Some("tok_a".into()),
            act: None,
        })),
    };
    let claims = claims(Some(chain));
    let value = serde_json::to_value(&claims).expect("serialise");
    assert_eq!(
        value["act"],
        json!({"sub": "agent_b", "jti": "tok_b", "act": {"sub": "agent_a", "jti": "tok_a"}})
    );
    assert_eq!(claims.delegation_depth(), 2);
    let subs: Vec<&str> = claims.actors().map(|actor| actor.sub.as_str()).collect();
    assert_eq!(subs, ["agent_b", "agent_a"]);
    let back: Claims = serde_json::from_value(value).expect("deserialise");
    assert_eq!(back, claims);
}
