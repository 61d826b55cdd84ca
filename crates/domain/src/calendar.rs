//! Working days in England and Wales, for response deadlines.
//!
//! Bank holidays are data (`data/bank-holidays.json`, the gov.uk `bank-holidays.json` shape) so a
//! deployment can replace the file when new years, or one-off holidays, are proclaimed. The
//! calendar covers whole years, from 1 January of the first year with an event to 31 December of
//! the last, and refuses to compute outside them rather than guess.
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
    #[error("the working-day calendar covers {first} to {last}; {date} is outside it (replace the bank-holiday file with a newer one)")]
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

    /// The first day the data covers (1 January of its first year).
    pub fn first_day(&self) -> NaiveDate {
        self.first_day
    }

    /// The last day the data covers (31 December of its last year).
    pub fn last_day(&self) -> NaiveDate {
        self.last_day
    }

    pub fn covers(&self, date: NaiveDate) -> bool {
        (self.first_day..=self.last_day).contains(&date)
    }

    /// The bank holiday on `date`, if any.
    pub fn holiday(&self, date: NaiveDate) -> Option<&str> {
        self.holidays.get(&date).map(String::as_str)
    }

    /// Every bank holiday, in date order.
    pub fn holidays(&self) -> impl Iterator<Item = (NaiveDate, &str)> {
        self.holidays.iter().map(|(d, t)| (*d, t.as_str()))
    }

    /// A weekday that is not a bank holiday. Dates outside the data are answered from weekdays
    /// alone; `due_date` refuses them instead.
    pub fn is_working_day(&self, date: NaiveDate) -> bool {
        !matches!(date.weekday(), Weekday::Sat | Weekday::Sun) && !self.holidays.contains_key(&date)
    }

    fn check_covered(&self, date: NaiveDate) -> Result<(), CalendarError> {
        if self.covers(date) {
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

    /// The due date for something received at `received`: the local (Europe/London) date of
    /// receipt never counts; the due date is the `working_days`-th following working day.
    pub fn due_date(&self, received: DateTime<Utc>, working_days: u32) -> Result<NaiveDate, CalendarError> {
        self.add_working_days(received_local_date(received), working_days)
    }
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
    }
}
