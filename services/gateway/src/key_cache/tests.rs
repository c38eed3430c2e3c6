use std::time::Duration;

use super::*;

fn principal(key: &str) -> Principal {
    Principal {
        account_id: latchkey_ids::AccountId::parse("acct_1").unwrap(),
        api_key_id: key.into(),
        plan: "self-hosted".into(),
    }
}

#[test]
fn the_hash_is_the_sha256_that_deletion_events_name_in_hex() {
    let from_event = SecretHash::from_hex("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    assert_eq!(from_event, Some(SecretHash::of("abc")));
    assert_eq!(SecretHash::from_hex("ba7816bf"), None);
    assert_eq!(SecretHash::from_hex(&"z".repeat(64)), None);
}

#[test]
fn a_remembered_key_is_found_until_its_deletion() {
    let cache = KeyCache::new(Duration::from_secs(60));
    cache.set_live(true);
    cache.remember(SecretHash::of("h1"), principal("key_1"), cache.generation());
    cache.remember(SecretHash::of("h2"), principal("key_2"), cache.generation());
    let found = cache.lookup(&SecretHash::of("h1")).map(|p| p.api_key_id);
    assert_eq!(found.as_deref(), Some("key_1"));
    // Deleted as the event names it, by hash; or by id, as this gateway deletes it.
    cache.forget(&SecretHash::of("h1"));
    assert!(cache.lookup(&SecretHash::of("h1")).is_none());
    cache.forget_key("key_2");
    assert!(cache.lookup(&SecretHash::of("h2")).is_none());
}
