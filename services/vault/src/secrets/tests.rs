use super::*;

fn account() -> AccountId {
    AccountId::parse("acct_0123456789abcdef").unwrap()
}

#[test]
fn secret_ids_are_namespaced() {
    for ok in ["credential/openai", "oauth-app/google", "connection/con_01h:x@y.z-_"] {
        assert!(validate_secret_id(&account(), ok, "secret_id").is_ok(), "{ok}");
    }
    for bad in [
        "openai",
        "credential/",
        "nope/openai",
        "credential/a b",
        "credential/a/b",
        "",
    ] {
        let error = validate_secret_id(&account(), bad, "secret_id").unwrap_err();
        assert_eq!(error.field, "secret_id", "{bad}");
    }
}

#[test]
fn system_namespaces_belong_to_the_system_account_alone() {
    let system = &AccountId::system();
    for id in ["signing-key/abc", "audit-checkpoint-key/audit-abc"] {
        assert!(validate_secret_id(system, id, "secret_id").is_ok(), "{id}");
        assert!(validate_secret_id(&account(), id, "secret_id").is_err(), "{id}");
    }
    for id in ["credential/openai", "webhook/ep_1"] {
        assert!(validate_secret_id(&account(), id, "secret_id").is_ok(), "{id}");
        assert!(validate_secret_id(system, id, "secret_id").is_err(), "{id}");
    }
}

#[test]
fn last4_shows_only_for_long_text() {
    assert_eq!(last4_of(b"sk-live-abcdefgh1234"), "1234");
    assert_eq!(last4_of(b"short-key"), "");
    assert_eq!(last4_of(&[0xff; 40]), "");
    assert_eq!(
        last4_of("clé-très-secrète-ünïcødé".as_bytes()),
        "ïcødé".chars().skip(1).collect::<String>()
    );
}
