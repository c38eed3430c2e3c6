use super::*;

#[test]
fn refusals_are_counted_for_the_head_row_only() {
    let mut refused = Refused::default();
    assert_eq!(refused.count(7), 1);
    assert_eq!(refused.count(7), 2);
    assert_eq!(refused.count(9), 1);
}
