#[test]
fn days_since_the_epoch_print_as_dates() {
    assert_eq!(super::chrono_day(0), "1970-01-01");
    assert_eq!(super::chrono_day(20_454), "2026-01-01");
    assert_eq!(super::chrono_day(19_782), "2024-02-29");
}
