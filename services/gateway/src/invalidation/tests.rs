use std::{sync::Arc, time::Duration};

use latchkey_events::{
    Envelope, LiveCache,
    catalogue::{PlanChanged, ServiceKeyCreated, ServiceKeyDeleted},
};
use latchkey_ids::AccountId;
use sha2::Digest;

use super::{PlanCaches, ServiceKeyCaches};
use crate::{
    key_cache::{KeyCache, SecretHash, ServiceKeyCache},
    principal::ServiceCaller,
};

const ACCOUNT: &str = "acct_0123456789abcdef";

fn caller(key: &str) -> ServiceCaller {
    ServiceCaller {
        account_id: AccountId::try_from(ACCOUNT.to_owned()).unwrap(),
        service_id: "svc_0123456789abcdef".into(),
        actor: key.into(),
        plan: "self-hosted".into(),
        can_write: true,
    }
}

/// A live cache holding two service keys.
fn cache_with_two_keys() -> Arc<ServiceKeyCache> {
    let cache = Arc::new(ServiceKeyCache::new(Duration::from_secs(60)));
    cache.set_live(true);
    for (secret, key) in [
        ("lk_svc_one", "skey_aaaaaaaaaaaaaaaa"),
        ("lk_svc_two", "skey_bbbbbbbbbbbbbbbb"),
    ] {
        cache.remember(SecretHash::of(secret), caller(key), cache.generation());
    }
    cache
}

fn deleted(key: &str, secret_hash: &str) -> Envelope {
    let event = ServiceKeyDeleted {
        key_id: key.to_owned(),
        service_id: "svc_0123456789abcdef".to_owned(),
        secret_hash: secret_hash.to_owned(),
    };
    Envelope::new("/latchkey/directory", ACCOUNT, None, &event)
}

#[test]
fn a_deleted_service_key_leaves_the_cache_by_hash_or_by_id() {
    let cache = cache_with_two_keys();
    let feed = ServiceKeyCaches {
        service_keys: cache.clone(),
    };
    feed.apply(&deleted(
        "skey_aaaaaaaaaaaaaaaa",
        &hex::encode(sha2::Sha256::digest(b"lk_svc_one")),
    ));
    assert!(
        cache.lookup(&SecretHash::of("lk_svc_one")).is_none(),
        "dropped by its hash"
    );
    assert!(
        cache.lookup(&SecretHash::of("lk_svc_two")).is_some(),
        "the other key stays"
    );
    // A malformed hash still drops the key by its id.
    feed.apply(&deleted("skey_bbbbbbbbbbbbbbbb", "not-hex"));
    assert!(
        cache.lookup(&SecretHash::of("lk_svc_two")).is_none(),
        "dropped by its id"
    );
}

#[test]
fn other_service_key_events_keep_the_cache_and_an_unreadable_deletion_empties_it() {
    let cache = cache_with_two_keys();
    let feed = ServiceKeyCaches {
        service_keys: cache.clone(),
    };
    let created = ServiceKeyCreated {
        key_id: "skey_cccccccccccccccc".to_owned(),
        service_id: "svc_0123456789abcdef".to_owned(),
        name: "new".to_owned(),
        prefix: "lk_svc_abcd".to_owned(),
    };
    feed.apply(&Envelope::new("/latchkey/directory", ACCOUNT, None, &created));
    assert!(cache.lookup(&SecretHash::of("lk_svc_one")).is_some());
    let mut unreadable = deleted("skey_aaaaaaaaaaaaaaaa", "00");
    unreadable.data = serde_json::json!({ "key_id": 7 });
    feed.apply(&unreadable);
    assert!(
        cache.lookup(&SecretHash::of("lk_svc_one")).is_none(),
        "the safe reaction: forget all"
    );
    assert!(cache.lookup(&SecretHash::of("lk_svc_two")).is_none());
}

#[test]
fn a_plan_change_drops_the_accounts_service_keys_too() {
    let service_keys = cache_with_two_keys();
    let feed = PlanCaches {
        keys: Arc::new(KeyCache::new(Duration::from_secs(60))),
        service_keys: service_keys.clone(),
    };
    let event = PlanChanged {
        account_id: ACCOUNT.to_owned(),
        from_plan: "free".to_owned(),
        to_plan: "pro".to_owned(),
    };
    feed.apply(&Envelope::new("/latchkey/agent-token", ACCOUNT, None, &event));
    assert!(service_keys.lookup(&SecretHash::of("lk_svc_one")).is_none());
}
