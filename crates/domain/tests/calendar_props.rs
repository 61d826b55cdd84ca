//! Properties of the working-day calendar over the whole of the shipped data.

use chrono::{DateTime, Duration, NaiveDate, Utc};
use proptest::prelude::*;
use telederm_domain::calendar::{Calendar, CalendarError, received_local_date};

fn start() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2024-12-31T00:00:00Z").unwrap().with_timezone(&Utc)
}

/// Any instant from the end of 2024 to early 2028: a few fall before or after the data on purpose.
fn instant() -> impl Strategy<Value = DateTime<Utc>> {
    (0i64..(3 * 366 + 40) * 86_400).prop_map(|s| start() + Duration::seconds(s))
}

fn working_days_between(cal: &Calendar, after: NaiveDate, through: NaiveDate) -> u32 {
    after.iter_days().skip(1).take_while(|d| *d <= through).filter(|d| cal.is_working_day(*d)).count() as u32
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn a_due_date_is_a_working_day_after_receipt_with_exactly_n_working_days(t in instant(), n in 1u32..=15) {
        let cal = Calendar::builtin();
        let received = received_local_date(t);
        match cal.due_date(t, n) {
            Ok(due) => {
                prop_assert!(cal.is_working_day(due));
                prop_assert!(due > received);
                prop_assert!(due > t.date_naive() - Duration::days(1));
                prop_assert_eq!(working_days_between(&cal, received, due), n);
                prop_assert!(received >= cal.first_day());
                prop_assert_eq!(cal.is_provisional(due), !cal.covers(due));
            }
            Err(CalendarError::OutOfRange { date, .. }) => {
                // Only before the data: past it the statutory rules answer.
                prop_assert!(date < cal.first_day());
                prop_assert!(received < cal.first_day());
            }
            Err(other) => prop_assert!(false, "unexpected {other}"),
        }
    }

    #[test]
    fn a_pause_adds_exactly_the_working_days_it_lasted(t in instant(), n in 1u32..=10, paused_after in 0i64..20 * 86_400, lasted in 0i64..30 * 86_400) {
        let cal = Calendar::builtin();
        let Ok(due) = cal.due_date(t, n) else { return Ok(()) };
        let paused = t + Duration::seconds(paused_after);
        let resumed = paused + Duration::seconds(lasted);
        let moved = cal.resume_after_pause(due, paused, resumed).unwrap();
        let waited = working_days_between(&cal, received_local_date(paused), received_local_date(resumed));
        prop_assert_eq!(working_days_between(&cal, due, moved), waited);
        prop_assert!(cal.is_working_day(moved));
        prop_assert!(moved >= due);
    }

    #[test]
    fn due_dates_are_monotonic_in_receipt_time(a in instant(), b in instant(), n in 1u32..=10) {
        let cal = Calendar::builtin();
        let (early, late) = if a <= b { (a, b) } else { (b, a) };
        if let (Ok(d1), Ok(d2)) = (cal.due_date(early, n), cal.due_date(late, n)) {
            prop_assert!(d1 <= d2);
        }
    }

    #[test]
    fn due_dates_are_strictly_monotonic_in_working_days(t in instant(), n in 1u32..=10) {
        let cal = Calendar::builtin();
        if let (Ok(d1), Ok(d2)) = (cal.due_date(t, n), cal.due_date(t, n + 1)) {
            prop_assert!(d1 < d2);
        }
    }

    #[test]
    fn the_receipt_day_does_not_matter_within_a_london_day(t in instant(), n in 1u32..=5) {
        let cal = Calendar::builtin();
        // Any two instants with the same London date give the same due date.
        let local = received_local_date(t);
        let same_day_later = (0..24).map(|h| t + Duration::hours(h)).take_while(|u| received_local_date(*u) == local).last().unwrap();
        prop_assert_eq!(cal.due_date(t, n), cal.due_date(same_day_later, n));
    }
}
