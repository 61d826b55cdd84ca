//! The statutory rules that answer past the official data: they must reproduce the official
//! gov.uk England and Wales lists exactly, except for one-off (proclaimed) holidays.

use std::collections::BTreeSet;

use chrono::{DateTime, Datelike, Duration, NaiveDate, Utc, Weekday};
use proptest::prelude::*;
use telederm_domain::calendar::{Calendar, easter_sunday, received_local_date, statutory_holidays};

fn day(s: &str) -> NaiveDate {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
}

fn computed(year: i32) -> Vec<(String, String)> {
    statutory_holidays(year).into_iter().map(|(d, t)| (d.to_string(), t.to_string())).collect()
}

#[test]
fn the_rules_reproduce_every_year_of_the_shipped_gov_uk_data_exactly() {
    let cal = Calendar::builtin();
    let years: BTreeSet<i32> = cal.holidays().map(|(d, _)| d.year()).collect();
    assert_eq!(years, BTreeSet::from([2025, 2026, 2027]));
    for year in years {
        let official: Vec<(String, String)> =
            cal.holidays().filter(|(d, _)| d.year() == year).map(|(d, t)| (d.to_string(), t.to_string())).collect();
        assert_eq!(computed(year), official, "{year}: dates and titles");
    }
}

/// gov.uk's England and Wales list for 2018-2024 (the years before the shipped file), dates only.
const GOV_UK_2018_2024: &[&str] = &[
    "2018-01-01", "2018-03-30", "2018-04-02", "2018-05-07", "2018-05-28", "2018-08-27", "2018-12-25", "2018-12-26",
    "2019-01-01", "2019-04-19", "2019-04-22", "2019-05-06", "2019-05-27", "2019-08-26", "2019-12-25", "2019-12-26",
    "2020-01-01", "2020-04-10", "2020-04-13", "2020-05-08", "2020-05-25", "2020-08-31", "2020-12-25", "2020-12-28",
    "2021-01-01", "2021-04-02", "2021-04-05", "2021-05-03", "2021-05-31", "2021-08-30", "2021-12-27", "2021-12-28",
    "2022-01-03", "2022-04-15", "2022-04-18", "2022-05-02", "2022-06-02", "2022-06-03", "2022-08-29", "2022-09-19",
    "2022-12-26", "2022-12-27",
    "2023-01-02", "2023-04-07", "2023-04-10", "2023-05-01", "2023-05-08", "2023-05-29", "2023-08-28", "2023-12-25",
    "2023-12-26",
    "2024-01-01", "2024-03-29", "2024-04-01", "2024-05-06", "2024-05-27", "2024-08-26", "2024-12-25", "2024-12-26",
];

/// One-off changes by proclamation, which no rule computes: (year, rule dates not holidays that
/// year, extra holidays).
const PROCLAIMED: &[(i32, &[&str], &[&str])] = &[
    // The early May bank holiday moved to Friday 8 May for the 75th anniversary of VE day.
    (2020, &["2020-05-04"], &["2020-05-08"]),
    // Platinum Jubilee: the spring bank holiday moved to Thursday 2 June, plus Friday 3 June; and
    // the State Funeral of Queen Elizabeth II on Monday 19 September.
    (2022, &["2022-05-30"], &["2022-06-02", "2022-06-03", "2022-09-19"]),
    // The coronation of King Charles III, Monday 8 May.
    (2023, &[], &["2023-05-08"]),
];

#[test]
fn the_rules_reproduce_gov_uk_2018_to_2024_except_proclaimed_one_offs() {
    for year in 2018..=2024 {
        let official: BTreeSet<NaiveDate> = GOV_UK_2018_2024.iter().map(|s| day(s)).filter(|d| d.year() == year).collect();
        let mut expected: BTreeSet<NaiveDate> = statutory_holidays(year).into_iter().map(|(d, _)| d).collect();
        if let Some((_, removed, added)) = PROCLAIMED.iter().find(|(y, _, _)| *y == year) {
            for d in *removed {
                assert!(expected.remove(&day(d)), "{d} is a rule date");
            }
            for d in *added {
                assert!(expected.insert(day(d)), "{d} is not a rule date");
            }
        }
        assert_eq!(expected, official, "{year}");
    }
}

#[test]
fn easter_sunday_known_dates() {
    let known = [
        (1818, "1818-03-22"), (1943, "1943-04-25"), (2000, "2000-04-23"), (2008, "2008-03-23"), (2011, "2011-04-24"),
        (2019, "2019-04-21"), (2024, "2024-03-31"), (2025, "2025-04-20"), (2028, "2028-04-16"), (2038, "2038-04-25"),
        (2285, "2285-03-22"),
    ];
    for (year, date) in known {
        assert_eq!(easter_sunday(year), day(date), "{year}");
    }
}

#[test]
fn substitute_days_for_each_christmas_weekday() {
    // (year, Christmas Day, Boxing Day) as gov.uk lists them.
    let cases = [
        (2026, "2026-12-25", "2026-12-28"), // Friday: Boxing Day Saturday -> Monday
        (2027, "2027-12-27", "2027-12-28"), // Saturday: Monday and Tuesday
        (2022, "2022-12-27", "2022-12-26"), // Sunday: Boxing Day Monday, Christmas Tuesday
        (2028, "2028-12-25", "2028-12-26"), // Monday
        (2023, "2023-12-25", "2023-12-26"),
    ];
    for (year, christmas, boxing) in cases {
        let h = statutory_holidays(year);
        let find = |title: &str| h.iter().find(|(_, t)| *t == title).map(|(d, _)| d.to_string()).unwrap();
        assert_eq!((find("Christmas Day"), find("Boxing Day")), (christmas.to_string(), boxing.to_string()), "{year}");
    }
    // New Year's Day on a Saturday (2028) and a Sunday (2034) moves to Monday.
    assert_eq!(statutory_holidays(2028)[0].0, day("2028-01-03"));
    assert_eq!(statutory_holidays(2034)[0].0, day("2034-01-02"));
}

fn instant() -> impl Strategy<Value = DateTime<Utc>> {
    let start = DateTime::parse_from_rfc3339("2025-01-01T00:00:00Z").unwrap().with_timezone(&Utc);
    (0i64..80 * 366 * 86_400).prop_map(move |s| start + Duration::seconds(s))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn every_year_has_eight_distinct_weekday_holidays(year in 1900i32..2500) {
        let h = statutory_holidays(year);
        let dates: BTreeSet<NaiveDate> = h.iter().map(|(d, _)| *d).collect();
        prop_assert_eq!(dates.len(), 8);
        for (d, _) in &h {
            prop_assert!(!matches!(d.weekday(), Weekday::Sat | Weekday::Sun), "{} {}", year, d);
        }
        let easter = easter_sunday(year);
        prop_assert_eq!(easter.weekday(), Weekday::Sun);
        prop_assert!(easter >= NaiveDate::from_ymd_opt(year, 3, 22).unwrap() && easter <= NaiveDate::from_ymd_opt(year, 4, 25).unwrap());
    }

    #[test]
    fn due_dates_decades_ahead_are_never_on_a_weekend_or_holiday(t in instant(), n in 1u32..=15) {
        let cal = Calendar::builtin();
        let due = cal.due_date(t, n).unwrap();
        let received = received_local_date(t);
        prop_assert!(due > received);
        prop_assert!(!matches!(due.weekday(), Weekday::Sat | Weekday::Sun));
        prop_assert!(cal.holiday(due).is_none());
        if cal.is_provisional(due) {
            prop_assert!(statutory_holidays(due.year()).iter().all(|(d, _)| *d != due));
        }
        let counted = received.iter_days().skip(1).take_while(|d| *d <= due).filter(|d| cal.is_working_day(*d)).count();
        prop_assert_eq!(counted as u32, n);
        prop_assert_eq!(cal.is_provisional(due), due > cal.last_day());
    }

    #[test]
    fn due_dates_decades_ahead_are_monotonic(a in instant(), b in instant(), n in 1u32..=10) {
        let cal = Calendar::builtin();
        let (early, late) = if a <= b { (a, b) } else { (b, a) };
        prop_assert!(cal.due_date(early, n).unwrap() <= cal.due_date(late, n).unwrap());
        prop_assert!(cal.due_date(early, n).unwrap() < cal.due_date(early, n + 1).unwrap());
    }
}
