use super::*;

#[test]
fn the_request_after_the_burst_is_refused_with_a_retry_after() {
    let limiter = KeyRateLimiter::new(NonZeroU32::MIN, NonZeroU32::new(3).unwrap_or(NonZeroU32::MIN));
    let key: Arc<str> = "key_1".into();
    for _ in 0..3 {
        assert!(limiter.check(&key).is_ok());
    }
    let refused = limiter.check(&key).err().map(|p| p.0);
    assert_eq!(refused.as_ref().map(|e| e.code), Some(ErrorCode::RateLimited));
    assert!(refused.and_then(|e| e.retry_after_secs).is_some_and(|s| s >= 1));
    // Another key has its own allowance.
    assert!(limiter.check(&"key_2".into()).is_ok());
}
