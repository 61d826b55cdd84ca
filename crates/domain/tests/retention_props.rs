//! Properties of the retention decision (`telederm_domain::retention`).

use chrono::{Duration, NaiveDate};
use proptest::prelude::*;
use telederm_domain::referral::ReferralStatus;
use telederm_domain::retention::{RetentionFacts, RetentionPolicy, RetentionRule, in_progress, is_expired, retain_until};

fn day(n: i64) -> NaiveDate {
    NaiveDate::from_ymd_opt(1900, 1, 1).unwrap() + Duration::days(n)
}

fn status() -> impl Strategy<Value = ReferralStatus> {
    prop::sample::select(ReferralStatus::ALL.to_vec())
}

fn rule() -> impl Strategy<Value = RetentionRule> {
    (0u32..30, 0u32..40, 0u32..30).prop_map(|(y, c, a)| RetentionRule { years_after_last_activity: y, child_until_age: c, adult_age: a })
}

fn facts() -> impl Strategy<Value = RetentionFacts> {
    // Born 1900-2030, last activity 0-100 years after birth.
    (status(), 0i64..47_000, 0i64..36_500).prop_map(|(status, born, lived)| RetentionFacts {
        status,
        date_of_birth: day(born),
        last_activity: day(born + lived),
    })
}

/// Whole years from `a` to `b` (b >= a).
fn years_between(a: NaiveDate, b: NaiveDate) -> u32 {
    b.years_since(a).unwrap_or(0)
}

proptest! {
    /// Nothing expires before the years after the last activity have passed.
    #[test]
    fn never_before_the_years_after_last_activity(f in facts(), r in rule(), later in 0i64..40_000) {
        let p = RetentionPolicy { referral: r, draft: r };
        let today = f.last_activity + Duration::days(later);
        if is_expired(&p, &f, today) {
            prop_assert!(years_between(f.last_activity, today) >= r.years_after_last_activity);
        }
    }

    /// A child's record is never purged before the child-until birthday.
    #[test]
    fn a_child_is_kept_until_the_birthday(f in facts(), r in rule(), later in 0i64..40_000) {
        let p = RetentionPolicy { referral: r, draft: r };
        let today = f.last_activity + Duration::days(later);
        let child = years_between(f.date_of_birth, f.last_activity) < r.adult_age;
        if child && is_expired(&p, &f, today) {
            prop_assert!(years_between(f.date_of_birth, today) >= r.child_until_age);
        }
    }

    /// Once expired, a record stays expired.
    #[test]
    fn expiry_is_monotonic(f in facts(), r in rule(), t in 0i64..40_000, more in 0i64..10_000) {
        let p = RetentionPolicy { referral: r, draft: r };
        let today = f.last_activity + Duration::days(t);
        if is_expired(&p, &f, today) {
            prop_assert!(is_expired(&p, &f, today + Duration::days(more)));
        }
    }

    /// Work in progress never expires; everything else does, exactly on the retain-until day.
    #[test]
    fn in_progress_never_expires_and_the_rest_expire_on_the_day(f in facts(), r in rule()) {
        let p = RetentionPolicy { referral: r, draft: r };
        let until = retain_until(&r, f.date_of_birth, f.last_activity);
        prop_assume!(until < NaiveDate::MAX);
        if in_progress(f.status) {
            prop_assert!(!is_expired(&p, &f, until + Duration::days(36_500)));
        } else {
            prop_assert!(is_expired(&p, &f, until));
            prop_assert!(!is_expired(&p, &f, until - Duration::days(1)));
        }
    }

    /// Under any valid policy, later activity never shortens retention.
    #[test]
    fn later_activity_keeps_records_longer(f in facts(), r in rule(), extra in 0i64..5_000) {
        prop_assume!(RetentionPolicy { referral: r, draft: r }.validate().is_ok());
        let a = retain_until(&r, f.date_of_birth, f.last_activity);
        let b = retain_until(&r, f.date_of_birth, f.last_activity + Duration::days(extra));
        prop_assert!(b >= a);
    }
}

#[test]
fn the_default_policy_is_valid_and_a_shortening_one_is_refused() {
    assert!(RetentionPolicy::default().validate().is_ok());
    let bad = RetentionRule { years_after_last_activity: 2, child_until_age: 25, adult_age: 18 };
    let err = RetentionPolicy { referral: bad, ..RetentionPolicy::default() }.validate().unwrap_err();
    assert!(err.contains("retention.referral") && err.contains("child_until_age"), "{err}");
}
