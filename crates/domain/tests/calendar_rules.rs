//! Working-day deadlines: Europe/London receipt date, the receipt day never counts, weekends and
//! England and Wales bank holidays are skipped, and nothing is computed past the data.

use chrono::{DateTime, NaiveDate, Utc};
use telederm_domain::calendar::{Calendar, CalendarError};

fn at(rfc3339: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(rfc3339).unwrap().with_timezone(&Utc)
}

fn day(s: &str) -> NaiveDate {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
}

#[test]
fn due_dates_table() {
    let cal = Calendar::builtin();
    let cases = [
        // (received, working days, due, why)
        ("2026-03-02T09:00:00Z", 3, "2026-03-05", "Monday + 3 = Thursday"),
        ("2026-03-02T09:00:00Z", 1, "2026-03-03", "the day of receipt never counts"),
        ("2026-03-05T16:59:00Z", 2, "2026-03-09", "Thursday + 2 crosses the weekend"),
        ("2026-03-07T12:00:00Z", 1, "2026-03-09", "received on a Saturday"),
        ("2026-03-08T12:00:00Z", 1, "2026-03-09", "received on a Sunday"),
        ("2026-04-02T10:00:00+01:00", 2, "2026-04-08", "Good Friday and Easter Monday 2026 skipped"),
        ("2026-05-04T10:00:00+01:00", 1, "2026-05-05", "received on the Early May bank holiday"),
        ("2025-12-24T10:00:00Z", 3, "2025-12-31", "Christmas and Boxing Day 2025"),
        ("2026-12-24T10:00:00Z", 1, "2026-12-29", "Boxing Day 2026 substitute Monday 28th"),
        ("2027-12-24T10:00:00Z", 1, "2027-12-29", "Christmas 2027 on Monday 27th, Boxing Day Tuesday 28th"),
        ("2025-12-31T10:00:00Z", 1, "2026-01-02", "New Year's Day 2026 crosses the year"),
        ("2027-03-25T10:00:00Z", 1, "2027-03-30", "Good Friday 26 March and Easter Monday 29 March 2027"),
        ("2025-08-22T10:00:00+01:00", 1, "2025-08-26", "Summer bank holiday 2025"),
        ("2026-06-30T23:30:00Z", 1, "2026-07-02", "00:30 BST on Wednesday 1 July: received on the 1st"),
        ("2026-06-30T22:59:59Z", 1, "2026-07-01", "23:59:59 BST on Tuesday 30 June"),
        ("2026-01-15T23:30:00Z", 1, "2026-01-16", "23:30 GMT is still Thursday"),
        ("2026-03-29T00:30:00Z", 1, "2026-03-30", "the night the clocks go forward"),
        ("2026-10-24T23:30:00Z", 1, "2026-10-26", "00:30 BST on Sunday 25 October, the night the clocks go back"),
        ("2026-03-02T09:00:00Z", 10, "2026-03-16", "two full weeks"),
        ("2027-12-29T10:00:00Z", 2, "2027-12-31", "the last day of the data"),
    ];
    for (received, n, due, why) in cases {
        assert_eq!(cal.due_date(at(received), n), Ok(day(due)), "{why}");
    }
}

#[test]
fn past_the_data_due_dates_follow_the_statutory_rules_and_are_provisional() {
    let cal = Calendar::builtin();
    // Wednesday 29 December 2027 + 3: Thursday 30th, Friday 31st, then Monday 3 January 2028 is
    // New Year's Day's substitute (1 January 2028 is a Saturday), so Tuesday 4th.
    let due = cal.due_date(at("2027-12-29T10:00:00Z"), 3).unwrap();
    assert_eq!(due, day("2028-01-04"));
    assert!(cal.is_provisional(due));
    assert!(!cal.is_provisional(day("2027-12-31")));
    assert_eq!(cal.holiday(day("2028-01-03")), Some("New Year’s Day"));
    // 2028: Easter Sunday 16 April.
    assert_eq!(cal.due_date(at("2028-04-13T10:00:00+01:00"), 1), Ok(day("2028-04-18")));
    assert_eq!(cal.due_date(at("2035-12-24T10:00:00Z"), 1), Ok(day("2035-12-27")));
}

#[test]
fn refuses_to_compute_before_the_data() {
    let cal = Calendar::builtin();
    // 31 Dec 2024 23:30 UTC is still 2024 in London (GMT).
    let err = cal.due_date(at("2024-12-31T23:30:00Z"), 1).unwrap_err();
    assert_eq!(
        err,
        CalendarError::OutOfRange { date: day("2024-12-31"), first: day("2025-01-01"), last: day("2027-12-31") }
    );
    assert_eq!(err.code(), "calendar_out_of_range");
    assert_eq!(cal.due_date(at("2024-12-31T23:30:00-01:00"), 1), Ok(day("2025-01-02")));
    assert_eq!(cal.due_date(at("2026-03-02T09:00:00Z"), 0), Err(CalendarError::ZeroWorkingDays));
}

#[test]
fn operators_are_warned_from_ninety_days_before_the_data_ends() {
    let cal = Calendar::builtin();
    assert_eq!(cal.days_left(day("2027-12-31")), 0);
    assert_eq!(cal.days_left(day("2028-01-10")), -10);
    assert_eq!(cal.days_left(day("2027-10-02")), 90);
    assert!(!cal.needs_update(day("2027-10-01")));
    assert!(cal.warning(day("2027-10-01")).is_none());
    assert!(cal.needs_update(day("2027-10-02")));
    assert!(cal.warning(day("2027-10-02")).unwrap().contains("ends on 2027-12-31 (90 days left)"));
    assert!(cal.warning(day("2028-01-10")).unwrap().contains("ended on 2027-12-31 (10 days ago)"));
}

#[test]
fn every_listed_holiday_and_weekend_is_not_a_working_day() {
    let cal = Calendar::builtin();
    let expected = [
        "2025-01-01", "2025-04-18", "2025-04-21", "2025-05-05", "2025-05-26", "2025-08-25", "2025-12-25", "2025-12-26",
        "2026-01-01", "2026-04-03", "2026-04-06", "2026-05-04", "2026-05-25", "2026-08-31", "2026-12-25", "2026-12-28",
        "2027-01-01", "2027-03-26", "2027-03-29", "2027-05-03", "2027-05-31", "2027-08-30", "2027-12-27", "2027-12-28",
    ];
    let listed: Vec<String> = cal.holidays().map(|(d, _)| d.to_string()).collect();
    assert_eq!(listed, expected);
    for d in expected {
        assert!(!cal.is_working_day(day(d)), "{d}");
        assert!(cal.holiday(day(d)).is_some());
    }
    assert_eq!(cal.holiday(day("2027-12-27")), Some("Christmas Day"));
    assert!(!cal.is_working_day(day("2026-03-07")));
    assert!(!cal.is_working_day(day("2026-03-08")));
    assert!(cal.is_working_day(day("2026-03-09")));
    assert!(cal.is_working_day(day("2026-12-24")));
    // 2026-2027 Christmas weekends are substituted, so the actual 26 Dec 2026 (Saturday) and
    // 25 Dec 2027 (Saturday) are weekends, not listed.
    assert!(cal.holiday(day("2026-12-26")).is_none());
}

#[test]
fn a_replacement_file_is_read_in_the_gov_uk_shape() {
    let json = r#"{
      "england-and-wales": {"division": "england-and-wales", "events": [
        {"title": "New Year’s Day", "date": "2028-01-03", "notes": "Substitute day", "bunting": true},
        {"title": "Extra bank holiday", "date": "2028-06-05", "notes": "", "bunting": true}
      ]},
      "scotland": {"division": "scotland", "events": [{"title": "2nd January", "date": "2028-01-04", "notes": "", "bunting": true}]}
    }"#;
    let cal = Calendar::from_json(json).unwrap();
    assert_eq!((cal.first_day(), cal.last_day()), (day("2028-01-01"), day("2028-12-31")));
    // Scotland's holidays are not England and Wales's.
    assert!(cal.is_working_day(day("2028-01-04")));
    // A one-off proclaimed holiday is honoured (Friday 2 June 2028 + 1 skips Monday 5 June).
    assert_eq!(cal.due_date(at("2028-06-02T10:00:00Z"), 1), Ok(day("2028-06-06")));
}

#[test]
fn malformed_calendar_files_are_refused() {
    let cases = [
        ("not json", "bank_holidays_invalid"),
        (r#"{"scotland": {"division": "scotland", "events": []}}"#, "bank_holidays_invalid"),
        (r#"{"england-and-wales": {"division": "england-and-wales", "events": []}}"#, "bank_holidays_invalid"),
        (r#"{"england-and-wales": {"events": [{"title": "X", "date": "2026-13-01"}]}}"#, "bank_holidays_invalid"),
        (r#"{"england-and-wales": {"events": [{"title": "X", "date": "2026-1-1"}]}}"#, "bank_holidays_invalid"),
        (r#"{"england-and-wales": {"events": [{"date": "2026-01-01"}]}}"#, "bank_holidays_invalid"),
    ];
    for (json, code) in cases {
        let err = Calendar::from_json(json).unwrap_err();
        assert_eq!(err.code(), code, "{json}: {err}");
    }
    assert_eq!(
        Calendar::from_json(r#"{"scotland": {"events": []}}"#).unwrap_err(),
        CalendarError::MissingDivision
    );
    assert_eq!(
        Calendar::from_json(r#"{"england-and-wales": {"events": [{"title": "X", "date": "26-01-01"}]}}"#).unwrap_err(),
        CalendarError::InvalidDate { index: 0, value: "26-01-01".to_owned() }
    );
}

#[test]
fn each_service_target_gives_a_due_date() {
    let cal = Calendar::builtin();
    for p in telederm_domain::policy::builtin() {
        let due = cal.due_date(at("2026-04-02T15:00:00+01:00"), p.response_target_working_days).unwrap();
        // Thursday before Easter 2026 + 3 working days = Thursday 9 April.
        assert_eq!(due, day("2026-04-09"), "{}", p.id);
    }
}

/// The official data is believed to its last day: 31 December 1999 was a one-off bank holiday
/// (the Millennium), which no statutory rule gives (cargo-mutants: `>` to `>=` in
/// `Calendar::holiday` survived every other test).
#[test]
fn a_holiday_on_the_last_day_of_the_data_is_honoured() {
    let json = r#"{"england-and-wales": {"division": "england-and-wales", "events": [
        {"title": "Christmas Day", "date": "1999-12-27", "notes": "Substitute day", "bunting": true},
        {"title": "Boxing Day", "date": "1999-12-28", "notes": "Substitute day", "bunting": true},
        {"title": "Millennium Day", "date": "1999-12-31", "notes": "", "bunting": true}
    ]}}"#;
    let cal = Calendar::from_json(json).unwrap();
    assert_eq!(cal.last_day(), day("1999-12-31"));
    // What `telederm calendar update` prints about a file it loaded.
    assert_eq!(cal.to_string(), "England and Wales working days 1999-01-01 to 1999-12-31 (3 bank holidays)");
    assert_eq!(cal.holiday(day("1999-12-31")), Some("Millennium Day"));
    assert!(!cal.is_working_day(day("1999-12-31")));
    // Past the data, the statutory rules: 3 January 2000 is New Year's Day's substitute.
    assert_eq!(cal.holiday(day("2000-01-03")), Some("New Year’s Day"));
}
