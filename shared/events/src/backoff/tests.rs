use super::*;

#[test]
fn doubles_up_to_the_cap_and_resets() {
    let mut backoff = Backoff::new(Duration::from_millis(100), Duration::from_millis(500));
    let delays: Vec<u128> = (0..5).map(|_| backoff.next_delay().as_millis()).collect();
    assert_eq!(delays, [100, 200, 400, 500, 500]);
    backoff.reset();
    assert_eq!(backoff.next_delay(), Duration::from_millis(100));
}
