//! The rules both caches follow, told with pages of text by account.

use super::*;

type Pages = TtlCache<&'static str, &'static str>;

fn live_cache() -> Pages {
    let cache = Pages::new(Duration::from_secs(60));
    cache.set_live(true);
    cache
}

#[test]
fn an_entry_is_served_until_it_changes() {
    let cache = live_cache();
    cache.remember("acct_a", "[a]", cache.generation());
    cache.remember("acct_b", "[b]", cache.generation());
    assert_eq!(cache.lookup("acct_a"), Some("[a]"));
    cache.forget("acct_a");
    assert!(cache.lookup("acct_a").is_none());
    assert_eq!(cache.lookup("acct_b"), Some("[b]"));
}

#[test]
fn forgetting_by_value_drops_every_entry_it_names() {
    let cache = live_cache();
    cache.remember("h1", "key_1", cache.generation());
    cache.remember("h2", "key_1", cache.generation());
    cache.remember("h3", "key_2", cache.generation());
    cache.forget_where(|key| *key == "key_1");
    assert!(cache.lookup("h1").is_none());
    assert!(cache.lookup("h2").is_none());
    assert_eq!(cache.lookup("h3"), Some("key_2"));
}

#[test]
fn an_answer_that_raced_an_invalidation_is_not_cached() {
    for invalidate in [
        |cache: &Pages| cache.forget("acct_a"),
        |cache: &Pages| cache.forget_where(|_| false),
        |cache: &Pages| cache.clear(),
    ] {
        let cache = live_cache();
        let seen = cache.generation();
        invalidate(&cache);
        cache.remember("acct_a", "[stale]", seen);
        assert!(cache.lookup("acct_a").is_none());
    }
}

#[test]
fn nothing_is_cached_or_served_while_the_feed_is_down() {
    let cache = live_cache();
    cache.remember("acct_a", "[a]", cache.generation());
    cache.set_live(false);
    assert_eq!(cache.len(), 0);
    cache.remember("acct_a", "[a]", cache.generation());
    assert!(cache.lookup("acct_a").is_none());
    cache.set_live(true);
    assert!(cache.lookup("acct_a").is_none());
}

#[test]
fn coming_back_live_drops_everything_and_keeps_no_answer_asked_for_before() {
    let cache = live_cache();
    cache.remember("acct_a", "[a]", cache.generation());
    // Asked while the feed was down: a change published then may have been missed.
    cache.set_live(false);
    let asked_while_down = cache.generation();
    cache.set_live(true);
    cache.remember("acct_b", "[stale]", asked_while_down);
    assert!(cache.lookup("acct_b").is_none());
    // Live again, and still live when it restarts: whatever it held is gone.
    cache.remember("acct_a", "[a]", cache.generation());
    cache.set_live(true);
    assert_eq!(cache.len(), 0);
}

#[test]
fn expired_entries_are_not_served_and_are_swept() {
    let cache = live_cache();
    cache.remember("acct_a", "[a]", cache.generation());
    let later = Instant::now() + Duration::from_secs(61);
    assert!(cache.lookup_at("acct_a", later).is_none());
    cache.sweep_at(later);
    assert_eq!(cache.len(), 0);
}

#[test]
fn a_zero_ttl_turns_it_off() {
    let cache = Pages::new(Duration::ZERO);
    cache.set_live(true);
    cache.remember("acct_a", "[a]", cache.generation());
    assert!(cache.lookup("acct_a").is_none());
}
