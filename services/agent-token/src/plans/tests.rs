use super::this_month;

#[test]
fn tokens_are_counted_per_utc_calendar_month() {
    let month = this_month();
    assert_eq!(month.len(), 7, "{month}");
    assert_eq!(&month[4..5], "-");
    assert!(
        month[..4].parse::<u32>().is_ok() && month[5..].parse::<u32>().is_ok(),
        "{month}"
    );
}
