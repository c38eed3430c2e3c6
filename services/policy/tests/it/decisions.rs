//! An account writes a policy that denies secrets and holds payments for a person; a token request
//! is answered by the rule that matches, a held one waits as a pending approval until someone
//! approves it, and then yields its token exactly once.

use latchkey_proto::policy::v1::{CreatePolicyRequest, DecideApprovalRequest, GetApprovalRequest};
use latchkey_storage::Backend;
use latchkey_test_support::{BACKENDS, mesh::as_account};
use tonic::Code;

use crate::support::{TestPolicy, token_request};

const ACCOUNT: &str = "acct_policy_story";
const AGENT: &str = "agent_invoicer";

async fn a_deny_rule_and_an_approval(backend: Backend) {
    let mut policy = TestPolicy::start(backend).await;
    let rules = r#"[{"match": {"scopes": ["secrets.*"]}, "effect": "deny"},
                    {"match": {"scopes": ["payments.*"]}, "effect": "require_approval"}]"#;
    let created = policy
        .client
        .create_policy(as_account(
            ACCOUNT,
            CreatePolicyRequest {
                name: "guard secrets and payments".to_owned(),
                rules_json: rules.to_owned(),
                ..CreatePolicyRequest::default()
            },
        ))
        .await
        .expect("create the policy")
        .into_inner();

    let denied = policy
        .client
        .evaluate(as_account(ACCOUNT, token_request(AGENT, "secrets.read", false)))
        .await
        .expect("evaluate")
        .into_inner();
    assert_eq!(
        (
            denied.effect.as_str(),
            denied.policy_id.as_str(),
            denied.rule_index,
            denied.would_issue
        ),
        ("deny", created.id.as_str(), Some(0), false)
    );
    let unmatched = policy
        .client
        .evaluate(as_account(ACCOUNT, token_request(AGENT, "docs.read", false)))
        .await
        .expect("evaluate")
        .into_inner();
    assert_eq!(
        (unmatched.effect.as_str(), unmatched.would_issue),
        ("allow", true),
        "the default"
    );

    // At issue, the payment request is held for a person.
    let held = policy
        .client
        .evaluate(as_account(ACCOUNT, token_request(AGENT, "payments.send", true)))
        .await
        .expect("evaluate at issue")
        .into_inner();
    assert_eq!(held.effect, "require_approval");
    assert!(held.approval_id.starts_with("apr_"), "{held:?}");
    let pending = policy
        .client
        .get_approval(as_account(
            ACCOUNT,
            GetApprovalRequest {
                id: held.approval_id.clone(),
            },
        ))
        .await
        .expect("the approval")
        .into_inner();
    assert_eq!((pending.status.as_str(), pending.agent_id.as_str()), ("pending", AGENT));
    assert_eq!(pending.scope, ["payments.send"]);

    let approved = policy
        .client
        .decide_approval(as_account(
            ACCOUNT,
            DecideApprovalRequest {
                id: held.approval_id.clone(),
                approve: true,
                note: "expected run".to_owned(),
            },
        ))
        .await
        .expect("approve")
        .into_inner();
    assert_eq!(approved.status, "approved");

    // The approved request, asked again with its approval, is allowed once.
    let mut redeem = token_request(AGENT, "payments.send", true);
    redeem.approval_id = held.approval_id.clone();
    let redeemed = policy
        .client
        .evaluate(as_account(ACCOUNT, redeem.clone()))
        .await
        .expect("redeem the approval")
        .into_inner();
    assert_eq!(
        (redeemed.effect.as_str(), redeemed.redeemed),
        ("allow", true),
        "{redeemed:?}"
    );
    assert_eq!(redeemed.redeemed_ttl, 300);
    let again = policy.client.evaluate(as_account(ACCOUNT, redeem)).await;
    let redeemed_twice = again.as_ref().is_ok_and(|answer| answer.get_ref().redeemed);
    assert!(!redeemed_twice, "an approval yields one token: {again:?}");

    // Another account sees neither the policy nor the approval.
    let elsewhere = policy
        .client
        .get_approval(as_account("acct_other", GetApprovalRequest { id: held.approval_id }))
        .await
        .expect_err("another account's approval");
    assert_eq!(elsewhere.code(), Code::NotFound);
}

#[tokio::test]
async fn a_deny_rule_and_an_approval_on_each_backend() {
    for backend in BACKENDS {
        a_deny_rule_and_an_approval(backend).await;
    }
}
