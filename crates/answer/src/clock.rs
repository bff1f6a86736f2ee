//! Times of day: `4:30`, `16:05`, `4:30 p.m.`, `\text{11:15 AM}`, `12:00:30`.
//!
//! A time is not a ratio, although both are written `a:b`: as ratios `4:30` and
//! `2:15` are equal, as times they are not. When both answers read as times they are
//! compared here, before any arithmetic. A time with `am`/`pm`, or with an hour above
//! 12 (or a leading zero, `04:30`), names one moment of the day; a bare `4:30` is a
//! reading of a 12-hour clock and matches both `4:30 a.m.` and `4:30 p.m.`, but not
//! the 24-hour `16:30` (nothing says which half of the day the bare reading is).

use crate::equiv::Judgement;

const HALF_DAY: u32 = 12 * 3600;

/// A time of day as written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Clock {
    hour: u32,
    minute: u32,
    second: Option<u32>,
    /// `Some(false)` for a.m., `Some(true)` for p.m.
    pm: Option<bool>,
    /// The hour was written with a leading zero (`04:30`), as on a 24-hour clock.
    zero_padded: bool,
}

/// Which moments of the day a written time can denote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Reading {
    /// Seconds since midnight.
    Moment(u32),
    /// Seconds since noon or midnight: a bare reading of a 12-hour clock.
    TwelveHour(u32),
}

impl Clock {
    /// Reads an extracted answer as a time of day: one or two hour digits, a colon,
    /// two minute digits, optionally seconds and an `am`/`pm` marker, possibly inside
    /// `\text{}` or math delimiters. Anything else (`1:2`, `4:30 cm`) is not a time.
    pub fn parse(text: &str) -> Option<Clock> {
        let plain = strip_markup(text);
        let s = plain.trim();
        let (hour_text, rest) = s.split_once(':')?;
        if !(1..=2).contains(&hour_text.len()) || !all_digits(hour_text) {
            return None;
        }
        let (minute_text, rest) = take_digits(rest, 2)?;
        let (second_text, rest) = match rest.strip_prefix(':') {
            Some(r) => {
                let (sec, r) = take_digits(r, 2)?;
                (Some(sec), r)
            }
            None => (None, rest),
        };
        let pm = marker(rest.trim())?;
        let hour: u32 = hour_text.parse().ok()?;
        let minute: u32 = minute_text.parse().ok()?;
        let second = match second_text {
            Some(t) => Some(t.parse::<u32>().ok()?),
            None => None,
        };
        let valid_hour = match pm {
            Some(_) => (1..=12).contains(&hour),
            None => hour <= 23,
        };
        if !valid_hour || minute > 59 || second.is_some_and(|x| x > 59) {
            return None;
        }
        Some(Clock {
            hour,
            minute,
            second,
            pm,
            zero_padded: hour_text.len() == 2 && hour_text.starts_with('0'),
        })
    }

    fn reading(self) -> Reading {
        let within_hour = self.minute * 60 + self.second.unwrap_or(0);
        match self.pm {
            Some(pm) => {
                Reading::Moment((self.hour % 12) * 3600 + within_hour + u32::from(pm) * HALF_DAY)
            }
            None if self.hour > 12 || self.hour == 0 || self.zero_padded => {
                Reading::Moment(self.hour * 3600 + within_hour)
            }
            None => Reading::TwelveHour((self.hour % 12) * 3600 + within_hour),
        }
    }

    /// Written as `h:mm` alone, which could also be a ratio.
    fn bare(self) -> bool {
        self.pm.is_none() && self.second.is_none()
    }
}

/// Compares two times of day (gold first; the comparison is symmetric).
pub fn compare(gold: Clock, pred: Clock) -> Judgement {
    use Reading::{Moment, TwelveHour};
    let same = match (gold.reading(), pred.reading()) {
        (Moment(a), Moment(b)) | (TwelveHour(a), TwelveHour(b)) => Some(a == b),
        // `4:30` against `4:30 p.m.`: the bare reading is the same clock reading. Two
        // marker-less forms (`4:30` against `16:30`) do not say which half of the day.
        (TwelveHour(a), Moment(b)) | (Moment(b), TwelveHour(a)) => {
            let either = if gold.bare() && pred.bare() {
                None
            } else {
                Some(true)
            };
            if b % HALF_DAY == a {
                either
            } else {
                Some(false)
            }
        }
    };
    match same {
        Some(true) => Judgement::yes("same time of day"),
        None => Judgement::unknown("the same clock reading, but which half of the day is not said"),
        Some(false) if gold.bare() && pred.bare() && equal_ratios(gold, pred) => {
            Judgement::unknown("different times of day, but equal as ratios")
        }
        Some(false) => Judgement::no("different times of day"),
    }
}

/// `4:30` and `2:15` are the same ratio; a zero minute part is no ratio.
fn equal_ratios(a: Clock, b: Clock) -> bool {
    a.minute != 0 && b.minute != 0 && a.hour * b.minute == b.hour * a.minute
}

/// The text without math delimiters, `\text{}`-like wrappers, braces and spacing
/// commands: `\text{4:30 p.m.}` becomes `4:30 p.m.`.
fn strip_markup(text: &str) -> String {
    let mut s = text.to_string();
    for cmd in [
        "\\text",
        "\\mbox",
        "\\mathrm",
        "\\textrm",
        "\\textnormal",
        "\\(",
    ] {
        s = s.replace(cmd, " ");
    }
    for spacing in ["\\)", "\\ ", "\\,", "\\;", "\\!", "~"] {
        s = s.replace(spacing, " ");
    }
    s.chars()
        .filter(|c| !matches!(c, '{' | '}' | '$'))
        .collect()
}

fn all_digits(s: &str) -> bool {
    !s.is_empty() && s.chars().all(|c| c.is_ascii_digit())
}

/// Exactly `n` ASCII digits at the start of `s`, not followed by another digit.
fn take_digits(s: &str, n: usize) -> Option<(&str, &str)> {
    let head = s.get(..n)?;
    let tail = &s[n..];
    if !all_digits(head) || tail.starts_with(|c: char| c.is_ascii_digit()) {
        return None;
    }
    Some((head, tail))
}

/// The am/pm marker after a time: `None` when the text does not end in one.
/// Returns `Some(None)` for no marker.
fn marker(rest: &str) -> Option<Option<bool>> {
    let m: String = rest
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '.')
        .collect::<String>()
        .to_ascii_lowercase();
    match m.as_str() {
        "" => Some(None),
        "am" => Some(Some(false)),
        "pm" => Some(Some(true)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn same(a: &str, b: &str) -> Option<bool> {
        compare(Clock::parse(a).unwrap(), Clock::parse(b).unwrap()).equal
    }

    #[test]
    fn reads_times_and_rejects_ratios() {
        assert!(Clock::parse("4:30").is_some());
        assert!(Clock::parse("\\text{4:30 p.m.}").is_some());
        assert!(Clock::parse("$11:15\\text{ AM}$").is_some());
        assert!(Clock::parse("12:00:30").is_some());
        assert!(Clock::parse("1:2").is_none());
        assert!(Clock::parse("4:300").is_none());
        assert!(Clock::parse("4:30 cm").is_none());
        assert!(Clock::parse("25:00").is_none());
        assert!(Clock::parse("13:00 pm").is_none());
    }

    #[test]
    fn compares_clock_readings() {
        assert_eq!(same("4:30", "4:30"), Some(true));
        assert_eq!(same("4:30", "5:30"), Some(false));
        assert_eq!(same("12:00", "1:00"), Some(false));
        assert_eq!(same("4:30", "4:30 PM"), Some(true));
        assert_eq!(same("4:30 p.m.", "16:30"), Some(true));
        assert_eq!(same("4:30 a.m.", "4:30 p.m."), Some(false));
        assert_eq!(same("12:15 a.m.", "00:15"), Some(true));
        assert_eq!(same("4:30", "16:30"), None);
        // Equal as ratios (4/30 = 2/15), different as times.
        assert_eq!(same("4:30", "2:15"), None);
    }
}
