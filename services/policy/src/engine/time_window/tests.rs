use chrono::{TimeZone, Weekday};

use super::*;

/// 2026-07-06 is a Monday; `day` 0 is that Monday, 6 the Sunday after.
fn at(day: u32, hour: u32, minute: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 7, 6 + day, hour, minute, 0)
        .single()
        .expect("a valid UTC time")
}

#[test]
fn the_reference_day_is_a_monday() {
    assert_eq!(at(0, 0, 0).weekday(), Weekday::Mon);
}

fn input(days: Option<&[&str]>, start: &str, end: &str, timezone: Option<&str>) -> TimeWindowInput {
    TimeWindowInput {
        days: days.map(|days| days.iter().map(|day| (*day).to_owned()).collect()),
        start: start.to_owned(),
        end: end.to_owned(),
        timezone: timezone.map(str::to_owned),
    }
}

fn window(days: Option<&[&str]>, start: &str, end: &str, timezone: Option<&str>) -> TimeWindow {
    let mut errors = Vec::new();
    let compiled = TimeWindow::compile(&input(days, start, end, timezone), "w", &mut errors);
    assert_eq!(errors, vec![]);
    compiled.expect("a valid window")
}

fn refused(days: Option<&[&str]>, start: &str, end: &str, timezone: Option<&str>) -> Vec<String> {
    let mut errors = Vec::new();
    let compiled = TimeWindow::compile(&input(days, start, end, timezone), "w", &mut errors);
    assert_eq!(compiled, None);
    errors.into_iter().map(|error| error.field).collect()
}

#[test]
fn inside_and_outside_a_daytime_window() {
    let office = window(None, "09:00", "17:00", None);
    assert!(office.contains(at(0, 9, 0)), "start is inclusive");
    assert!(office.contains(at(0, 12, 30)));
    assert!(office.contains(at(0, 16, 59)));
    assert!(!office.contains(at(0, 17, 0)), "end is exclusive");
    assert!(!office.contains(at(0, 8, 59)));
    assert!(!office.contains(at(0, 23, 0)));
}

#[test]
fn day_filter_keeps_other_days_out() {
    let weekdays = window(Some(&["mon", "tue", "wed", "thu", "fri"]), "09:00", "17:00", None);
    assert!(weekdays.contains(at(0, 10, 0)), "Monday");
    assert!(weekdays.contains(at(4, 10, 0)), "Friday");
    assert!(!weekdays.contains(at(5, 10, 0)), "Saturday");
    assert!(!weekdays.contains(at(6, 10, 0)), "Sunday");
    let sunday = window(Some(&["Sunday"]), "00:00", "24:00", None);
    assert!(sunday.contains(at(6, 0, 0)));
    assert!(sunday.contains(at(6, 23, 59)));
    assert!(!sunday.contains(at(0, 0, 0)));
}

#[test]
fn window_crossing_midnight_belongs_to_the_day_it_starts() {
    let friday_night = window(Some(&["fri"]), "22:00", "06:00", None);
    assert!(friday_night.contains(at(4, 22, 0)), "Friday evening");
    assert!(friday_night.contains(at(4, 23, 59)));
    assert!(friday_night.contains(at(5, 0, 0)), "Saturday just after midnight");
    assert!(friday_night.contains(at(5, 5, 59)));
    assert!(!friday_night.contains(at(5, 6, 0)), "end is exclusive");
    assert!(
        !friday_night.contains(at(5, 22, 30)),
        "Saturday evening starts no window"
    );
    assert!(
        !friday_night.contains(at(4, 3, 0)),
        "Friday morning belongs to Thursday's window"
    );
    assert!(!friday_night.contains(at(4, 12, 0)));
    let nightly = window(None, "22:00", "06:00", None);
    assert!(nightly.contains(at(0, 2, 0)), "Monday morning, from Sunday's window");
    assert!(!nightly.contains(at(0, 12, 0)));
}

#[test]
fn fixed_offset_shifts_the_window() {
    // 09:00-17:00 at +02:00 is 07:00-15:00 UTC.
    let berlin_summer = window(None, "09:00", "17:00", Some("+02:00"));
    assert!(berlin_summer.contains(at(0, 7, 0)));
    assert!(berlin_summer.contains(at(0, 14, 59)));
    assert!(!berlin_summer.contains(at(0, 15, 0)));
    assert!(!berlin_summer.contains(at(0, 6, 59)));
    // The local day decides the day filter: Monday 23:00 UTC is Tuesday 04:30 at +05:30.
    let india_tuesday = window(Some(&["tue"]), "04:00", "05:00", Some("+05:30"));
    assert!(india_tuesday.contains(at(0, 23, 0)));
    assert!(!india_tuesday.contains(at(1, 23, 0)));
    let new_york = window(None, "20:00", "21:00", Some("-04:00"));
    assert!(new_york.contains(at(1, 0, 30)));
    assert_eq!(
        window(None, "09:00", "10:00", Some("utc")),
        window(None, "09:00", "10:00", Some("+00:00"))
    );
}

#[test]
fn each_bad_part_is_named() {
    assert_eq!(refused(None, "9:00", "17:00", None), ["w.start"]);
    assert_eq!(refused(None, "24:00", "17:00", None), ["w.start"]);
    assert_eq!(refused(None, "+9:00", "17:00", None), ["w.start"]);
    assert_eq!(refused(None, "09:00", "17:60", None), ["w.end"]);
    assert_eq!(refused(None, "09:00", "00:00", None), ["w.end"]);
    assert_eq!(refused(None, "09:00", "24:01", None), ["w.end"]);
    assert_eq!(refused(None, "09:00", "09:00", None), ["w.end"]);
    assert_eq!(refused(None, "09:00", "17:00", Some("Europe/Berlin")), ["w.timezone"]);
    assert_eq!(refused(None, "09:00", "17:00", Some("+15:00")), ["w.timezone"]);
    assert_eq!(refused(None, "09:00", "17:00", Some("+0200")), ["w.timezone"]);
    assert_eq!(refused(Some(&[]), "09:00", "17:00", None), ["w.days"]);
    assert_eq!(refused(Some(&["mon", "funday"]), "09:00", "17:00", None), ["w.days[1]"]);
    assert_eq!(
        refused(Some(&["x"]), "x", "y", Some("zz")),
        ["w.start", "w.end", "w.timezone", "w.days[0]"]
    );
}

#[test]
fn messages_say_what_to_write() {
    let mut errors = Vec::new();
    TimeWindow::compile(
        &input(None, "09:00", "17:00", Some("America/New_York")),
        "w",
        &mut errors,
    );
    assert!(errors[0].message.contains("+02:00"), "{}", errors[0].message);
}
