use super::window;

#[test]
fn windows_are_aligned_and_retry_waits_for_the_next_one() {
    assert_eq!(window(120, 60), (120, 60));
    assert_eq!(window(179, 60), (120, 1));
    assert_eq!(window(150, 60), (120, 30));
    assert_eq!(window(7, 1), (7, 1));
}
