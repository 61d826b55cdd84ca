//! The retention rules at their edges, with the values `docs/security.md` ("Retention") documents:
//! 8 years after the last activity, a child's record until the 25th birthday, "child" meaning
//! under 18 at the last activity, drafts under their own rule. Each assertion here catches a
//! wrong answer the proptests in `retention_props.rs` allowed (issue 19, cargo-mutants on
//! `crates/domain/src/retention.rs`).

use chrono::NaiveDate;
use telederm_domain::referral::ReferralStatus;
use telederm_domain::retention::{RecordType, RetentionFacts, RetentionPolicy, RetentionRule, child_at, is_expired};

fn d(y: i32, m: u32, day: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, day).unwrap()
}

#[test]
fn a_patient_is_an_adult_from_their_eighteenth_birthday() {
    let rule = RetentionRule::default();
    let dob = d(2008, 6, 1);
    assert!(child_at(&rule, dob, d(2026, 5, 31)), "the day before the 18th birthday");
    assert!(!child_at(&rule, dob, d(2026, 6, 1)), "on the 18th birthday");
    assert!(!child_at(&rule, d(1960, 5, 1), d(2020, 3, 10)), "a 59-year-old");
    assert!(child_at(&rule, d(2020, 1, 1), d(2020, 1, 1)), "a newborn");
}

#[test]
fn drafts_follow_the_draft_rule_and_sent_referrals_the_referral_rule() {
    assert_eq!(RecordType::of(ReferralStatus::Draft), RecordType::Draft);
    for s in ReferralStatus::ALL.into_iter().filter(|s| *s != ReferralStatus::Draft) {
        assert_eq!(RecordType::of(s), RecordType::Referral, "{s:?}");
    }
    // The names the purge report and its audit entries print (`telederm retention run`).
    assert_eq!((RecordType::Referral.as_str(), RecordType::Draft.as_str()), ("referral", "draft"));
    // A draft kept 1 year, a referral 8: a year and a day after the last activity only the draft
    // has expired.
    let policy = RetentionPolicy { draft: RetentionRule { years_after_last_activity: 1, ..RetentionRule::default() }, ..RetentionPolicy::default() };
    let draft = RetentionFacts { status: ReferralStatus::Draft, date_of_birth: d(1960, 5, 1), last_activity: d(2024, 3, 10) };
    let closed = RetentionFacts { status: ReferralStatus::Closed, ..draft };
    assert!(is_expired(&policy, &draft, d(2025, 3, 10)));
    assert!(!is_expired(&policy, &closed, d(2025, 3, 10)));
    assert!(is_expired(&policy, &closed, d(2032, 3, 10)));
}

#[test]
fn a_childs_floor_may_equal_an_adults_retention_but_not_exceed_it() {
    let with = |child_until_age| RetentionPolicy {
        referral: RetentionRule { years_after_last_activity: 8, child_until_age, adult_age: 18 },
        ..RetentionPolicy::default()
    };
    assert_eq!(with(25).validate(), Ok(()));
    assert_eq!(with(26).validate(), Ok(()), "18 + 8: a child turning adult is kept exactly as long");
    let err = with(27).validate().unwrap_err();
    assert!(err.starts_with("retention.referral: child_until_age (27) must be at most"), "{err}");
    let draft = RetentionPolicy { draft: RetentionRule { child_until_age: 30, ..RetentionRule::default() }, ..RetentionPolicy::default() };
    assert!(draft.validate().unwrap_err().starts_with("retention.draft:"));
}
