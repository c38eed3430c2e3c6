use http::Method;
use latchkey_ids::AccountId;

use super::*;

fn caller(can_write: bool) -> ServiceCaller {
    ServiceCaller {
        account_id: AccountId::try_from("acct_0123456789abcdef".to_owned()).unwrap(),
        service_id: "svc_0123456789abcdef".into(),
        actor: "skey_0123456789abcdef".into(),
        plan: "self-hosted".into(),
        can_write,
    }
}

#[test]
fn a_read_only_key_reads_and_changes_nothing() {
    let reader = caller(false);
    assert!(reader.may(&Method::GET));
    assert!(reader.may(&Method::HEAD));
    for method in [Method::POST, Method::PATCH, Method::PUT, Method::DELETE] {
        assert!(!reader.may(&method), "{method} allowed to a read-only key");
    }
    assert!(caller(true).may(&Method::DELETE));
}

#[test]
fn mesh_calls_name_the_account_the_actor_and_the_plan() {
    let request = caller(true).grpc_request(());
    let metadata = request.metadata();
    assert_eq!(metadata.get("x-latchkey-account").unwrap(), "acct_0123456789abcdef");
    assert_eq!(metadata.get("x-latchkey-actor").unwrap(), "skey_0123456789abcdef");
    assert_eq!(metadata.get(latchkey_server::PLAN_HEADER).unwrap(), "self-hosted");
}
