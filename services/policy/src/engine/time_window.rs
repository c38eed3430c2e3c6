//! Time windows: "weekdays 09:00–17:00 at +02:00". Only UTC and fixed offsets, so there is no time zone
//! database to ship or keep current, and a window means the same thing on every instance.
//!
//! A window is half-open, `[start, end)`, at minute resolution; `end` may be `24:00` (end of day). When
//! `end` is earlier than `start` the window crosses midnight (`22:00`–`06:00`), and `days` names the day
//! the window *starts* on: `days: ["fri"]` with `22:00`–`06:00` covers Friday 22:00 to Saturday 06:00.

use chrono::{DateTime, Datelike, FixedOffset, Timelike, Utc};
use latchkey_errors::FieldError;

use super::model::TimeWindowInput;

/// The largest offset accepted, in minutes: ±14:00 is the widest any place on Earth uses.
const MAX_OFFSET_MINUTES: i32 = 14 * 60;
const MINUTES_PER_DAY: u16 = 24 * 60;
/// Every day of the week, one bit per day, Monday in bit 0.
const EVERY_DAY: u8 = 0b111_1111;

/// Why part of a window was refused; the text is shown to the API caller next to the field.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TimeWindowError {
    #[error("must be a time of day as HH:MM, from 00:00 to 23:59")]
    Start,
    #[error("must be a time of day as HH:MM, from 00:01 to 24:00")]
    End,
    #[error("equals start: a window needs a length (00:00 to 24:00 is the whole day)")]
    EmptyWindow,
    #[error("must be UTC or a fixed offset from -14:00 to +14:00, like +02:00 (named time zones are not supported)")]
    Timezone,
    #[error("must be a day of the week: mon, tue, wed, thu, fri, sat or sun")]
    Day,
    #[error("must name at least one day; leave it out to mean every day")]
    NoDays,
}

/// A compiled window: checking one is a few integer comparisons.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TimeWindow {
    days: u8,
    start_minute: u16,
    end_minute: u16,
    offset: FixedOffset,
}

impl TimeWindow {
    /// Compiles `input`, pushing one error per bad field (named under `path`) and answering `None`
    /// if there was any.
    pub fn compile(input: &TimeWindowInput, path: &str, errors: &mut Vec<FieldError>) -> Option<Self> {
        let before = errors.len();
        let mut refuse = |field: &str, error: TimeWindowError| {
            errors.push(FieldError::new(format!("{path}.{field}"), error.to_string()));
        };
        let start = parse_minute(&input.start).filter(|minute| *minute < MINUTES_PER_DAY);
        let end = parse_minute(&input.end).filter(|minute| *minute > 0);
        if start.is_none() {
            refuse("start", TimeWindowError::Start);
        }
        if end.is_none() {
            refuse("end", TimeWindowError::End);
        }
        if start.is_some() && start == end {
            refuse("end", TimeWindowError::EmptyWindow);
        }
        let offset = parse_offset(input.timezone.as_deref().unwrap_or("UTC"));
        if offset.is_none() {
            refuse("timezone", TimeWindowError::Timezone);
        }
        let mut days = EVERY_DAY;
        if let Some(names) = &input.days {
            days = 0;
            if names.is_empty() {
                refuse("days", TimeWindowError::NoDays);
            }
            for (index, name) in names.iter().enumerate() {
                match parse_day(name) {
                    Some(day) => days |= 1 << day,
                    None => refuse(&format!("days[{index}]"), TimeWindowError::Day),
                }
            }
        }
        if errors.len() > before {
            return None;
        }
        Some(Self {
            days,
            start_minute: start?,
            end_minute: end?,
            offset: offset?,
        })
    }

    /// Whether `now` falls inside the window.
    pub fn contains(&self, now: DateTime<Utc>) -> bool {
        let local = now.with_timezone(&self.offset);
        // Truncating to the minute is exact here: every boundary is a whole minute.
        let minute = (local.hour() * 60 + local.minute()) as u16;
        let day = local.weekday().num_days_from_monday();
        let on = |day: u32| self.days & (1 << day) != 0;
        if self.start_minute < self.end_minute {
            on(day) && (self.start_minute..self.end_minute).contains(&minute)
        } else {
            // Crossing midnight: the evening part belongs to today, the morning part to yesterday's window.
            (minute >= self.start_minute && on(day)) || (minute < self.end_minute && on((day + 6) % 7))
        }
    }
}

/// `HH:MM` as minutes since midnight, `24:00` included.
fn parse_minute(text: &str) -> Option<u16> {
    let (hours, minutes) = text.split_once(':')?;
    if !two_digits(hours) || !two_digits(minutes) {
        return None;
    }
    let hours: u16 = hours.parse().ok()?;
    let minutes: u16 = minutes.parse().ok()?;
    let total = hours * 60 + minutes;
    (hours <= 24 && minutes < 60 && total <= MINUTES_PER_DAY).then_some(total)
}

/// `UTC` (or `Z`) or `±HH:MM`.
fn parse_offset(text: &str) -> Option<FixedOffset> {
    if text.eq_ignore_ascii_case("UTC") || text.eq_ignore_ascii_case("Z") {
        return FixedOffset::east_opt(0);
    }
    let (sign, rest) = match text.as_bytes().first()? {
        b'+' => (1, &text[1..]),
        b'-' => (-1, &text[1..]),
        _ => return None,
    };
    let (hours, minutes) = rest.split_once(':')?;
    if !two_digits(hours) || !two_digits(minutes) {
        return None;
    }
    let hours: i32 = hours.parse().ok()?;
    let minutes: i32 = minutes.parse().ok()?;
    let total = hours * 60 + minutes;
    if minutes >= 60 || total > MAX_OFFSET_MINUTES {
        return None;
    }
    FixedOffset::east_opt(sign * total * 60)
}

/// Exactly two ASCII digits: `parse` alone would also take `+1`.
fn two_digits(text: &str) -> bool {
    text.len() == 2 && text.bytes().all(|b| b.is_ascii_digit())
}

/// A day's name (`mon` or `monday`, any case) as days since Monday.
fn parse_day(name: &str) -> Option<u32> {
    const DAYS: [&str; 7] = [
        "monday",
        "tuesday",
        "wednesday",
        "thursday",
        "friday",
        "saturday",
        "sunday",
    ];
    DAYS.iter()
        .position(|day| name.eq_ignore_ascii_case(day) || name.eq_ignore_ascii_case(&day[..3]))
        .map(|index| index as u32)
}

#[cfg(test)]
mod tests;
