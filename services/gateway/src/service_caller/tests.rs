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
    assert!(reader.refuse_read_only(&Method::GET).is_ok());
    assert!(reader.refuse_read_only(&Method::HEAD).is_ok());
    for method in [Method::POST, Method::PATCH, Method::PUT, Method::DELETE] {
        let Err(Problem(error)) = reader.refuse_read_only(&method) else {
            panic!("{method} allowed to a read-only key");
        };
        assert_eq!(error.code, ErrorCode::Forbidden);
    }
    assert!(caller(true).refuse_read_only(&Method::DELETE).is_ok());
}

#[test]
fn mesh_calls_name_the_account_the_actor_and_the_plan() {
    let request = caller(true).grpc_request(());
    let metadata = request.metadata();
    assert_eq!(metadata.get("x-latchkey-account").unwrap(), "acct_0123456789abcdef");
    assert_eq!(metadata.get("x-latchkey-actor").unwrap(), "skey_0123456789abcdef");
    assert_eq!(metadata.get(latchkey_server::PLAN_HEADER).unwrap(), "self-hosted");
}
