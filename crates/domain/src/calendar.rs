//! Working days in England and Wales, for response deadlines.
//!
//! Bank holidays are data (`data/bank-holidays.json`, the gov.uk `bank-holidays.json` shape) so a
//! deployment can replace the file when new years, or one-off holidays, are proclaimed
//! (`telederm calendar update`). The official data covers whole years, from 1 January of the first
//! year with an event to 31 December of the last ([`Calendar::last_day`]).
//!
//! Past the official data the calendar does not stop: it computes the bank holidays from the
//! statutory rules ([`statutory_holidays`]: New Year's Day, Good Friday, Easter Monday, the early
//! May, spring and summer bank holidays, Christmas Day and Boxing Day, with substitute days), and a
//! due date that falls there is *provisional* ([`Calendar::is_provisional`]): a one-off holiday
//! proclaimed later (a jubilee, a coronation) would not be in it. Before the official data it
//! still refuses to compute rather than guess (receipt is always "now" in the service).
//!
//! Rule: take the moment of receipt in Europe/London local time; the day of receipt never counts;
//! the due date is the N-th following day that is a weekday and not a bank holiday.

use std::collections::BTreeMap;
use std::fmt;

use chrono::{DateTime, Datelike, NaiveDate, Utc, Weekday};
use chrono_tz::Europe::London;
use serde::Deserialize;

const BUILTIN_JSON: &str = include_str!("../../../data/bank-holidays.json");

/// The gov.uk division used: England and Wales share one list.
pub const DIVISION: &str = "england-and-wales";

/// Operators are warned (log, `/readyz`, metrics, admin dashboard) from this many days before the
/// official bank-holiday data ends.
pub const WARNING_DAYS: i64 = 90;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Calendar {
    holidays: BTreeMap<NaiveDate, String>,
    first_day: NaiveDate,
    last_day: NaiveDate,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CalendarError {
    #[error("the bank-holiday file is not valid JSON in the gov.uk shape: {0}")]
    Malformed(String),
    #[error("the bank-holiday file has no \"{DIVISION}\" division")]
    MissingDivision,
    #[error("the bank-holiday file lists no {DIVISION} events")]
    NoEvents,
    #[error("bank-holiday event {index} has date {value:?}, which is not YYYY-MM-DD")]
    InvalidDate { index: usize, value: String },
    #[error("the working-day calendar's official data covers {first} to {last}; {date} is before it")]
    OutOfRange { date: NaiveDate, first: NaiveDate, last: NaiveDate },
    #[error("a response target is at least 1 working day")]
    ZeroWorkingDays,
}

impl CalendarError {
    pub fn code(&self) -> &'static str {
        match self {
            Self::Malformed(_) | Self::MissingDivision | Self::NoEvents | Self::InvalidDate { .. } => {
                "bank_holidays_invalid"
            }
            Self::OutOfRange { .. } => "calendar_out_of_range",
            Self::ZeroWorkingDays => "zero_working_days",
        }
    }
}

#[derive(Deserialize)]
struct GovUkFile {
    #[serde(rename = "england-and-wales")]
    england_and_wales: Option<GovUkDivision>,
}

#[derive(Deserialize)]
struct GovUkDivision {
    events: Vec<GovUkEvent>,
}

#[derive(Deserialize)]
struct GovUkEvent {
    title: String,
    date: String,
}

impl Calendar {
    /// The shipped England and Wales bank holidays (2025-2027).
    pub fn builtin() -> Calendar {
        Calendar::from_json(BUILTIN_JSON).expect("built-in bank-holiday file is valid (a test guards this)")
    }

    /// Reads a file in the gov.uk `bank-holidays.json` shape, using the `england-and-wales`
    /// division. Other divisions and extra fields (`notes`, `bunting`) are ignored.
    pub fn from_json(text: &str) -> Result<Calendar, CalendarError> {
        let file: GovUkFile = serde_json::from_str(text).map_err(|e| CalendarError::Malformed(e.to_string()))?;
        let division = file.england_and_wales.ok_or(CalendarError::MissingDivision)?;
        let mut holidays = BTreeMap::new();
        for (index, event) in division.events.into_iter().enumerate() {
            let date = NaiveDate::parse_from_str(&event.date, "%Y-%m-%d")
                .ok()
                .filter(|_| event.date.len() == 10)
                .ok_or(CalendarError::InvalidDate { index, value: event.date.clone() })?;
            holidays.insert(date, event.title);
        }
        let (Some(first), Some(last)) = (holidays.keys().next(), holidays.keys().next_back()) else {
            return Err(CalendarError::NoEvents);
        };
        let first_day = NaiveDate::from_ymd_opt(first.year(), 1, 1).expect("1 January exists");
        let last_day = NaiveDate::from_ymd_opt(last.year(), 12, 31).expect("31 December exists");
        Ok(Calendar { holidays, first_day, last_day })
    }

    /// The first day the official data covers (1 January of its first year).
    pub fn first_day(&self) -> NaiveDate {
        self.first_day
    }

    /// The last day the official data covers (31 December of its last year). Later dates use the
    /// statutory rules and are provisional.
    pub fn last_day(&self) -> NaiveDate {
        self.last_day
    }

    /// Whether `date` is within the official data.
    pub fn covers(&self, date: NaiveDate) -> bool {
        (self.first_day..=self.last_day).contains(&date)
    }

    /// A due date past the official data: computed from the statutory rules, so a one-off bank
    /// holiday proclaimed later could move it.
    pub fn is_provisional(&self, date: NaiveDate) -> bool {
        date > self.last_day
    }

    /// Days from `today` to the last day of the official data (0 on that day, negative after it).
    pub fn days_left(&self, today: NaiveDate) -> i64 {
        (self.last_day - today).num_days()
    }

    /// Whether operators should be told to load newer data: within [`WARNING_DAYS`] of the end
    /// of the official data, or past it.
    pub fn needs_update(&self, today: NaiveDate) -> bool {
        self.days_left(today) <= WARNING_DAYS
    }

    /// A sentence for operators when [`Calendar::needs_update`], else `None`.
    pub fn warning(&self, today: NaiveDate) -> Option<String> {
        let left = self.days_left(today);
        if left > WARNING_DAYS {
            return None;
        }
        let what = if left >= 0 {
            format!("the official bank-holiday data ends on {} ({left} days left)", self.last_day)
        } else {
            format!("the official bank-holiday data ended on {} ({} days ago)", self.last_day, -left)
        };
        Some(format!(
            "{what}: due dates after it are computed from the statutory rules and marked provisional; \
             load the current gov.uk bank-holidays.json with `telederm calendar update FILE`"
        ))
    }

    /// The bank holiday on `date`, if any: from the official data, or past it from the statutory
    /// rules; none before the data.
    pub fn holiday(&self, date: NaiveDate) -> Option<&str> {
        if date > self.last_day {
            statutory_holidays(date.year()).into_iter().find(|(d, _)| *d == date).map(|(_, title)| title)
        } else {
            self.holidays.get(&date).map(String::as_str)
        }
    }

    /// Every bank holiday of the official data, in date order.
    pub fn holidays(&self) -> impl Iterator<Item = (NaiveDate, &str)> {
        self.holidays.iter().map(|(d, t)| (*d, t.as_str()))
    }

    /// A weekday that is not a bank holiday (past the official data, by the statutory rules).
    /// Dates before the data are answered from weekdays alone; `due_date` refuses them instead.
    pub fn is_working_day(&self, date: NaiveDate) -> bool {
        !matches!(date.weekday(), Weekday::Sat | Weekday::Sun) && self.holiday(date).is_none()
    }

    fn check_covered(&self, date: NaiveDate) -> Result<(), CalendarError> {
        if date >= self.first_day {
            Ok(())
        } else {
            Err(CalendarError::OutOfRange { date, first: self.first_day, last: self.last_day })
        }
    }

    /// The `working_days`-th working day after `start` (which itself never counts).
    pub fn add_working_days(&self, start: NaiveDate, working_days: u32) -> Result<NaiveDate, CalendarError> {
        if working_days == 0 {
            return Err(CalendarError::ZeroWorkingDays);
        }
        self.check_covered(start)?;
        let mut day = start;
        let mut counted = 0;
        while counted < working_days {
            day = day.succ_opt().ok_or(CalendarError::OutOfRange {
                date: day,
                first: self.first_day,
                last: self.last_day,
            })?;
            self.check_covered(day)?;
            if self.is_working_day(day) {
                counted += 1;
            }
        }
        Ok(day)
    }

    /// The working days after `from` up to and including `to` (0 when `to` is not after `from`):
    /// how long a clock stopped on `from` and restarted on `to` was stopped.
    pub fn working_days_between(&self, from: NaiveDate, to: NaiveDate) -> u32 {
        from.iter_days().skip(1).take_while(|d| *d <= to).filter(|d| self.is_working_day(*d)).count() as u32
    }

    /// A due date moved on by the working days a clock was paused (from the local date of
    /// `paused` to that of `resumed`): the service's target counts only days it could work on the
    /// request. Unchanged when no working day passed.
    pub fn resume_after_pause(&self, due: NaiveDate, paused: DateTime<Utc>, resumed: DateTime<Utc>) -> Result<NaiveDate, CalendarError> {
        match self.working_days_between(received_local_date(paused), received_local_date(resumed)) {
            0 => Ok(due),
            n => self.add_working_days(due, n),
        }
    }

    /// The due date for something received at `received`: the local (Europe/London) date of
    /// receipt never counts; the due date is the `working_days`-th following working day. Past the
    /// official data it is computed from the statutory rules ([`Calendar::is_provisional`]).
    pub fn due_date(&self, received: DateTime<Utc>, working_days: u32) -> Result<NaiveDate, CalendarError> {
        self.add_working_days(received_local_date(received), working_days)
    }
}

/// Easter Sunday in the Gregorian calendar (the anonymous Meeus/Jones/Butcher algorithm).
pub fn easter_sunday(year: i32) -> NaiveDate {
    let a = year.rem_euclid(19);
    let b = year.div_euclid(100);
    let c = year.rem_euclid(100);
    let d = b.div_euclid(4);
    let e = b.rem_euclid(4);
    let f = (b + 8).div_euclid(25);
    let g = (b - f + 1).div_euclid(3);
    let h = (19 * a + b - d - g + 15).rem_euclid(30);
    let i = c.div_euclid(4);
    let k = c.rem_euclid(4);
    let l = (32 + 2 * e + 2 * i - h - k).rem_euclid(7);
    let m = (a + 11 * h + 22 * l).div_euclid(451);
    let month = (h + l - 7 * m + 114).div_euclid(31);
    let day = (h + l - 7 * m + 114).rem_euclid(31) + 1;
    NaiveDate::from_ymd_opt(year, month as u32, day as u32).expect("the algorithm gives a date in March or April")
}

fn first_monday(year: i32, month: u32) -> NaiveDate {
    NaiveDate::from_weekday_of_month_opt(year, month, Weekday::Mon, 1).expect("every month has a first Monday")
}

fn last_monday(year: i32, month: u32) -> NaiveDate {
    NaiveDate::from_weekday_of_month_opt(year, month, Weekday::Mon, 5)
        .or_else(|| NaiveDate::from_weekday_of_month_opt(year, month, Weekday::Mon, 4))
        .expect("every month has four Mondays")
}

fn is_weekend(d: NaiveDate) -> bool {
    matches!(d.weekday(), Weekday::Sat | Weekday::Sun)
}

/// England and Wales bank holidays of `year` by the statutory rules (Banking and Financial
/// Dealings Act 1971 and the royal proclamations that make them annual), in date order, with the
/// gov.uk titles: New Year's Day, Good Friday, Easter Monday, the early May (first Monday of May),
/// spring (last Monday of May) and summer (last Monday of August) bank holidays, Christmas Day and
/// Boxing Day. A New Year's Day, Christmas Day or Boxing Day on a weekend is substituted by the
/// next weekday that is not already a bank holiday. One-off holidays (jubilees, coronations, state
/// funerals) and moved ones (VE day 2020) are proclaimed, not computable: only the official data
/// has them.
pub fn statutory_holidays(year: i32) -> Vec<(NaiveDate, &'static str)> {
    let Some(new_year) = NaiveDate::from_ymd_opt(year, 1, 1) else { return Vec::new() };
    let easter = easter_sunday(year);
    let mut days: Vec<(NaiveDate, &'static str)> = Vec::with_capacity(8);
    let mut new_year_day = new_year;
    while is_weekend(new_year_day) {
        new_year_day = new_year_day.succ_opt().expect("2 or 3 January exists");
    }
    days.push((new_year_day, "New Year’s Day"));
    days.push((easter - chrono::Duration::days(2), "Good Friday"));
    days.push((easter + chrono::Duration::days(1), "Easter Monday"));
    days.push((first_monday(year, 5), "Early May bank holiday"));
    days.push((last_monday(year, 5), "Spring bank holiday"));
    days.push((last_monday(year, 8), "Summer bank holiday"));
    // A Christmas Day or Boxing Day on a weekday keeps its date; one on a weekend moves to the
    // next free weekday, Christmas first (Christmas on a Sunday: Boxing Day Monday 26th, Christmas
    // Day Tuesday 27th, as gov.uk lists them).
    let christmas = [(25, "Christmas Day"), (26, "Boxing Day")].map(|(day, title)| {
        (NaiveDate::from_ymd_opt(year, 12, day).expect("25 and 26 December exist"), title)
    });
    let mut taken: Vec<NaiveDate> = christmas.iter().map(|(d, _)| *d).filter(|d| !is_weekend(*d)).collect();
    for (day, title) in christmas {
        let mut d = day;
        if is_weekend(d) {
            while is_weekend(d) || taken.contains(&d) {
                d = d.succ_opt().expect("late December has a following day");
            }
            taken.push(d);
        }
        days.push((d, title));
    }
    days.sort_by_key(|(d, _)| *d);
    days
}

/// The Europe/London calendar date of an instant.
pub fn received_local_date(received: DateTime<Utc>) -> NaiveDate {
    received.with_timezone(&London).date_naive()
}

impl fmt::Display for Calendar {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "England and Wales working days {} to {} ({} bank holidays)",
            self.first_day,
            self.last_day,
            self.holidays.len()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_covers_2025_to_2027() {
        let cal = Calendar::builtin();
        assert_eq!(cal.first_day(), NaiveDate::from_ymd_opt(2025, 1, 1).unwrap());
        assert_eq!(cal.last_day(), NaiveDate::from_ymd_opt(2027, 12, 31).unwrap());
        assert_eq!(cal.holidays().count(), 24);
        assert!(cal.is_provisional(NaiveDate::from_ymd_opt(2028, 1, 4).unwrap()));
    }

    #[test]
    fn a_pause_moves_the_due_date_by_the_working_days_it_lasted() {
        let cal = Calendar::builtin();
        let d = |y, m, day| NaiveDate::from_ymd_opt(y, m, day).unwrap();
        let at = |y, m, day, h| chrono::TimeZone::with_ymd_and_hms(&Utc, y, m, day, h, 0, 0).unwrap();
        // Thursday 18 Dec 2025 to Monday 29 Dec: Fri 19, Mon 22, Tue 23, Wed 24 are working days;
        // 25 and 26 Dec are bank holidays; Mon 29 is one more.
        assert_eq!(cal.working_days_between(d(2025, 12, 18), d(2025, 12, 29)), 5);
        assert_eq!(cal.working_days_between(d(2025, 12, 18), d(2025, 12, 18)), 0);
        assert_eq!(cal.working_days_between(d(2025, 12, 19), d(2025, 12, 18)), 0);
        // Paused and resumed on the same day: no change.
        assert_eq!(cal.resume_after_pause(d(2025, 12, 22), at(2025, 12, 18, 9), at(2025, 12, 18, 16)).unwrap(), d(2025, 12, 22));
        // Paused Thursday, resumed Monday (Fri 19 and Mon 22 count): due Mon 22 moves two working
        // days, to Wed 24.
        assert_eq!(cal.resume_after_pause(d(2025, 12, 22), at(2025, 12, 18, 9), at(2025, 12, 22, 9)).unwrap(), d(2025, 12, 24));
        // Over Christmas: five working days after Wed 24 skip 25 and 26 Dec, the weekends and
        // New Year's Day: Mon 29, Tue 30, Wed 31, Fri 2, Mon 5 Jan.
        assert_eq!(cal.resume_after_pause(d(2025, 12, 24), at(2025, 12, 18, 9), at(2025, 12, 29, 9)).unwrap(), d(2026, 1, 5));
    }
}
