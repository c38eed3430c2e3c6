use super::*;

fn compiled() -> Arc<CompiledAccount> {
    Arc::new(CompiledAccount {
        policies: Vec::new(),
        default: Effect::Allow,
    })
}

fn account(text: &str) -> AccountId {
    AccountId::parse(text).unwrap()
}

fn live_cache() -> PolicyCache {
    let cache = PolicyCache::new(Duration::from_secs(60));
    cache.set_live(true);
    cache
}

#[test]
fn a_cache_that_is_not_following_the_feed_keeps_nothing() {
    let cache = PolicyCache::new(Duration::from_secs(60));
    cache.store(&account("acct_1"), cache.generation(), compiled());
    assert!(cache.get(&account("acct_1")).is_none());
}

#[test]
fn a_load_that_raced_an_invalidation_is_not_kept() {
    let cache = live_cache();
    let before = cache.generation();
    cache.invalidate("acct_1");
    cache.store(&account("acct_1"), before, compiled());
    assert!(cache.get(&account("acct_1")).is_none());
    cache.store(&account("acct_1"), cache.generation(), compiled());
    assert!(cache.get(&account("acct_1")).is_some());
    cache.invalidate("acct_1");
    assert!(cache.get(&account("acct_1")).is_none());
}

#[test]
fn an_entry_expires_its_ttl_after_it_was_loaded() {
    let cache = live_cache();
    cache.store(&account("acct_1"), cache.generation(), compiled());
    assert!(cache.get(&account("acct_1")).is_some());
    let later = Instant::now() + Duration::from_secs(61);
    assert!(cache.get_at(&account("acct_1"), later).is_none());
}

#[test]
fn a_zero_ttl_turns_the_cache_off() {
    let cache = PolicyCache::new(Duration::ZERO);
    cache.set_live(true);
    cache.store(&account("acct_1"), cache.generation(), compiled());
    assert!(cache.get(&account("acct_1")).is_none());
}

#[test]
fn coming_back_live_drops_everything_and_keeps_no_load_begun_before() {
    let cache = live_cache();
    cache.store(&account("acct_1"), cache.generation(), compiled());
    cache.set_live(false);
    assert!(cache.get(&account("acct_1")).is_none());
    let loaded_while_down = cache.generation();
    cache.set_live(true);
    cache.store(&account("acct_2"), loaded_while_down, compiled());
    assert!(cache.get(&account("acct_1")).is_none());
    assert!(cache.get(&account("acct_2")).is_none());
}

#[test]
fn an_event_drops_its_account_only() {
    let cache = live_cache();
    cache.store(&account("acct_1"), cache.generation(), compiled());
    cache.store(&account("acct_2"), cache.generation(), compiled());
    let event = Envelope::new(
        crate::EVENT_SOURCE,
        "acct_1",
        None,
        &latchkey_events::catalogue::PolicyDeactivated {
            policy_id: "pol_1".to_owned(),
            name: "p".to_owned(),
            priority: 0,
        },
    );
    cache.apply(&event);
    assert!(cache.get(&account("acct_1")).is_none());
    assert!(cache.get(&account("acct_2")).is_some());
}
