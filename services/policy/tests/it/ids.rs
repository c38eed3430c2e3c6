//! Ids at the gRPC edge: text that is no id of its kind (a wildcard, a dot, another kind's id, an
//! overlong string) is answered exactly as an unknown id is and changes nothing; and one account
//! never reaches another's policy or approval by its id.

use latchkey_proto::policy::v1::{
    CreatePolicyRequest, DecideApprovalRequest, GetApprovalRequest, GetPolicyRequest, ListApprovalsRequest,
    ListPoliciesRequest, Policy, UpdatePolicyRequest,
};
use latchkey_storage::Backend;
use latchkey_test_support::{BACKENDS, mesh::as_account};
use tonic::{Code, Status};

use crate::support::{TestPolicy, token_request};

const ACCOUNT: &str = "acct_ids_owner";
const OTHER: &str = "acct_ids_other";
const AGENT: &str = "agent_ids_payer";

/// Texts that name no policy or approval; the last is well formed but unknown.
fn malformed(prefix: &str) -> Vec<String> {
    vec![
        format!("{prefix}_*"),
        format!("{prefix}_>"),
        format!("{prefix}_a.b"),
        format!("{prefix}_A"),
        format!("{prefix}_ a"),
        prefix.to_owned(),
        String::new(),
        "agent_0123456789abcdef".to_owned(),
        format!("{prefix}_{}", "a".repeat(200)),
    ]
}

/// The parts of a status a caller sees: code, message and the error in its details.
fn seen(status: &Status) -> (Code, String, Vec<u8>) {
    (status.code(), status.message().to_owned(), status.details().to_vec())
}

async fn create(policy: &mut TestPolicy, account: &str) -> Policy {
    let rules = r#"[{"match": {"scopes": ["payments.*"]}, "effect": "require_approval"}]"#;
    policy
        .client
        .create_policy(as_account(
            account,
            CreatePolicyRequest {
                name: "hold payments".to_owned(),
                rules_json: rules.to_owned(),
                ..CreatePolicyRequest::default()
            },
        ))
        .await
        .expect("create the policy")
        .into_inner()
}

async fn policies(policy: &mut TestPolicy, account: &str) -> Vec<Policy> {
    policy
        .client
        .list_policies(as_account(account, ListPoliciesRequest {}))
        .await
        .expect("list the policies")
        .into_inner()
        .policies
}

async fn approvals(policy: &mut TestPolicy, account: &str) -> Vec<(String, String)> {
    let listed = policy
        .client
        .list_approvals(as_account(
            account,
            ListApprovalsRequest {
                limit: 100,
                ..ListApprovalsRequest::default()
            },
        ))
        .await
        .expect("list the approvals")
        .into_inner();
    listed.approvals.into_iter().map(|a| (a.id, a.status)).collect()
}

/// A held request of `ACCOUNT`: its approval id.
async fn held(policy: &mut TestPolicy) -> String {
    let answer = policy
        .client
        .evaluate(as_account(ACCOUNT, token_request(AGENT, "payments.send", true)))
        .await
        .expect("evaluate at issue")
        .into_inner();
    assert!(answer.approval_id.starts_with("apr_"), "{answer:?}");
    answer.approval_id
}

fn update(id: &str) -> UpdatePolicyRequest {
    UpdatePolicyRequest {
        id: id.to_owned(),
        name: Some("renamed".to_owned()),
        is_active: Some(false),
        ..UpdatePolicyRequest::default()
    }
}

fn decide(id: &str) -> DecideApprovalRequest {
    DecideApprovalRequest {
        id: id.to_owned(),
        approve: true,
        note: String::new(),
    }
}

async fn malformed_ids_are_unknown_ids(backend: Backend) {
    let mut policy = TestPolicy::start(backend).await;
    create(&mut policy, ACCOUNT).await;
    held(&mut policy).await;
    let policies_before = policies(&mut policy, ACCOUNT).await;
    let approvals_before = approvals(&mut policy, ACCOUNT).await;

    let unknown_policy = "pol_0123456789abcdef";
    let unknown_approval = "apr_0123456789abcdef";
    let policy_missing = seen(
        &policy
            .client
            .get_policy(as_account(
                ACCOUNT,
                GetPolicyRequest {
                    id: unknown_policy.to_owned(),
                },
            ))
            .await
            .expect_err("an unknown policy"),
    );
    assert_eq!(policy_missing.0, Code::NotFound);
    let approval_missing = seen(
        &policy
            .client
            .get_approval(as_account(
                ACCOUNT,
                GetApprovalRequest {
                    id: unknown_approval.to_owned(),
                },
            ))
            .await
            .expect_err("an unknown approval"),
    );
    assert_eq!(approval_missing.0, Code::NotFound);

    for id in malformed("pol") {
        let got = policy
            .client
            .get_policy(as_account(ACCOUNT, GetPolicyRequest { id: id.clone() }))
            .await
            .expect_err("no such policy");
        assert_eq!(seen(&got), policy_missing, "get {id:?}");
        let updated = policy
            .client
            .update_policy(as_account(ACCOUNT, update(&id)))
            .await
            .expect_err("no such policy");
        assert_eq!(seen(&updated), policy_missing, "update {id:?}");
    }
    for id in malformed("apr") {
        let got = policy
            .client
            .get_approval(as_account(ACCOUNT, GetApprovalRequest { id: id.clone() }))
            .await
            .expect_err("no such approval");
        assert_eq!(seen(&got), approval_missing, "get {id:?}");
        let decided = policy
            .client
            .decide_approval(as_account(ACCOUNT, decide(&id)))
            .await
            .expect_err("no such approval");
        assert_eq!(seen(&decided), approval_missing, "decide {id:?}");
        if id.is_empty() {
            continue; // An empty approval id asks for no redemption at all.
        }
        let mut redeem = token_request(AGENT, "payments.send", true);
        redeem.approval_id = id.clone();
        let redeemed = policy
            .client
            .evaluate(as_account(ACCOUNT, redeem))
            .await
            .expect_err("no such approval");
        assert_eq!(seen(&redeemed), approval_missing, "redeem {id:?}");
    }

    // The issue's decision id is not looked up but filed with what is held: a bad one is the
    // caller's validation error, and nothing is held.
    for decision_id in ["dec_*", "dec_a.b", "apr_0123456789abcdef"] {
        let mut request = token_request(AGENT, "payments.send", true);
        request.decision_id = decision_id.to_owned();
        let refused = policy
            .client
            .evaluate(as_account(ACCOUNT, request))
            .await
            .expect_err("a bad decision id");
        assert_eq!(refused.code(), Code::InvalidArgument, "{decision_id}");
    }

    assert_eq!(
        policies(&mut policy, ACCOUNT).await,
        policies_before,
        "no policy changed"
    );
    assert_eq!(
        approvals(&mut policy, ACCOUNT).await,
        approvals_before,
        "no approval held, decided or redeemed"
    );
}

#[tokio::test]
async fn malformed_ids_are_answered_as_unknown_ones_and_change_nothing_on_each_backend() {
    for backend in BACKENDS {
        malformed_ids_are_unknown_ids(backend).await;
    }
}

async fn an_agent_id_that_is_none_is_an_unknown_agent(backend: Backend) {
    let mut policy = TestPolicy::start(backend).await;
    create(&mut policy, ACCOUNT).await;
    for agent in ["agent_*", "agent_a.b", "acct_ids_owner", "pol_0123456789abcdef"] {
        for enforce in [false, true] {
            let mut request = token_request(agent, "payments.send", enforce);
            request.decision_id = "dec_0123456789abcdef".to_owned();
            let refused = policy
                .client
                .evaluate(as_account(ACCOUNT, request))
                .await
                .expect_err("no such agent");
            assert_eq!(refused.code(), Code::NotFound, "{agent}");
            assert!(refused.message().contains("agent"), "{agent}: {refused:?}");
        }
    }
    assert!(approvals(&mut policy, ACCOUNT).await.is_empty(), "nothing held");
    // Field errors still come first, and an empty agent id is one of them.
    let mut empty = token_request("", "payments.send", false);
    empty.scope = Vec::new();
    let invalid = policy
        .client
        .evaluate(as_account(ACCOUNT, empty))
        .await
        .expect_err("invalid");
    assert_eq!(invalid.code(), Code::InvalidArgument, "{invalid:?}");
}

#[tokio::test]
async fn an_agent_id_that_is_none_is_an_unknown_agent_on_each_backend() {
    for backend in BACKENDS {
        an_agent_id_that_is_none_is_an_unknown_agent(backend).await;
    }
}

async fn another_account_reaches_nothing_by_id(backend: Backend) {
    let mut policy = TestPolicy::start(backend).await;
    let created = create(&mut policy, ACCOUNT).await;
    let approval_id = held(&mut policy).await;
    let policies_before = policies(&mut policy, ACCOUNT).await;
    let approvals_before = approvals(&mut policy, ACCOUNT).await;

    let got = policy
        .client
        .get_policy(as_account(OTHER, GetPolicyRequest { id: created.id.clone() }))
        .await
        .expect_err("another account's policy");
    assert_eq!(got.code(), Code::NotFound);
    let updated = policy
        .client
        .update_policy(as_account(OTHER, update(&created.id)))
        .await
        .expect_err("another account's policy");
    assert_eq!(updated.code(), Code::NotFound);
    let decided = policy
        .client
        .decide_approval(as_account(OTHER, decide(&approval_id)))
        .await
        .expect_err("another account's approval");
    assert_eq!(decided.code(), Code::NotFound);
    let mut redeem = token_request(AGENT, "payments.send", true);
    redeem.approval_id = approval_id.clone();
    let redeemed = policy
        .client
        .evaluate(as_account(OTHER, redeem))
        .await
        .expect_err("another account's approval");
    assert_eq!(redeemed.code(), Code::NotFound);
    assert!(policies(&mut policy, OTHER).await.is_empty());
    assert!(approvals(&mut policy, OTHER).await.is_empty());

    assert_eq!(policies(&mut policy, ACCOUNT).await, policies_before);
    assert_eq!(approvals(&mut policy, ACCOUNT).await, approvals_before);
}

#[tokio::test]
async fn another_account_reaches_nothing_by_id_on_each_backend() {
    for backend in BACKENDS {
        another_account_reaches_nothing_by_id(backend).await;
    }
}
