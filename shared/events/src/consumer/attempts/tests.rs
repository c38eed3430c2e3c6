use super::*;

#[test]
fn a_batch_failing_twice_is_taken_apart_until_its_last_event_is_settled() {
    let mut attempts = Attempts::default();
    assert_eq!(attempts.failed("a", "h", 8).tries, 1);
    assert_eq!(attempts.batch_size(8), 8, "the first retry is whole");
    let second = attempts.failed("a", "h", 8);
    assert_eq!((second.tries, second.delay), (2, RETRY_INITIAL * 2));
    assert_eq!(attempts.batch_size(8), 1);
    attempts.settled("a");
    assert_eq!(
        attempts.failed("b", "b", 1).tries,
        1,
        "a new event starts counting afresh"
    );
    assert_eq!(attempts.failed("b", "b", 1).tries, 2);
    attempts.settled("b");
    assert_eq!(attempts.batch_size(8), 1);
    attempts.settled("h");
    assert_eq!(attempts.batch_size(8), 8);
}
