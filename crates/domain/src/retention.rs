//! How long records are kept, and when one has expired. Pure: the purge job (`telederm_store::
//! retention`) gathers the facts and asks [`is_expired`].
//!
//! The defaults follow the NHS Records Management Code of Practice for clinical records: an
//! adult's record is kept 8 years after the last activity on it; a child's until their 25th
//! birthday, or 8 years after the last activity if that is later. "Child" means under 18 at the
//! last activity. A referral the service is still working on never expires.

use chrono::{Months, NaiveDate};
use serde::{Deserialize, Serialize};

use crate::referral::ReferralStatus;

/// The rule for one record type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RetentionRule {
    /// Years a record is kept after its last activity.
    pub years_after_last_activity: u32,
    /// A child's record is kept at least until this birthday.
    pub child_until_age: u32,
    /// Patients younger than this at the last activity are children.
    pub adult_age: u32,
}

impl Default for RetentionRule {
    fn default() -> Self {
        RetentionRule { years_after_last_activity: 8, child_until_age: 25, adult_age: 18 }
    }
}

/// Kinds of record with their own rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RecordType {
    /// A referral that was sent (with its photos, messages, events and letters).
    Referral,
    /// A draft that was never sent.
    Draft,
}

impl RecordType {
    pub fn of(status: ReferralStatus) -> RecordType {
        if status == ReferralStatus::Draft { RecordType::Draft } else { RecordType::Referral }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            RecordType::Referral => "referral",
            RecordType::Draft => "draft",
        }
    }
}

/// The retention policy: one rule per record type (configuration `[retention.referral]` and
/// `[retention.draft]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RetentionPolicy {
    pub referral: RetentionRule,
    pub draft: RetentionRule,
}

impl RetentionPolicy {
    /// Refuses a policy under which a later activity could shorten retention: a child's floor
    /// (`child_until_age`) must not outlast an adult's (`adult_age` + `years_after_last_activity`),
    /// or a child turning adult would have their records purged sooner.
    pub fn validate(&self) -> Result<(), String> {
        for (name, r) in [("referral", &self.referral), ("draft", &self.draft)] {
            if r.child_until_age > r.adult_age + r.years_after_last_activity {
                return Err(format!(
                    "retention.{name}: child_until_age ({}) must be at most adult_age + years_after_last_activity ({}), \
                     or a child's record could be kept for less time after they turn {}",
                    r.child_until_age,
                    r.adult_age + r.years_after_last_activity,
                    r.adult_age
                ));
            }
        }
        Ok(())
    }

    pub fn rule(&self, t: RecordType) -> &RetentionRule {
        match t {
            RecordType::Referral => &self.referral,
            RecordType::Draft => &self.draft,
        }
    }
}

/// What the decision needs to know about a record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetentionFacts {
    pub status: ReferralStatus,
    pub date_of_birth: NaiveDate,
    /// The day of the latest change, message, photo or event.
    pub last_activity: NaiveDate,
}

fn plus_years(d: NaiveDate, years: u32) -> NaiveDate {
    // 29 February plus a year is 28 February; dates past the calendar's end keep the record.
    d.checked_add_months(Months::new(years.saturating_mul(12))).unwrap_or(NaiveDate::MAX)
}

/// Whether the patient was a child at `on`.
pub fn child_at(rule: &RetentionRule, date_of_birth: NaiveDate, on: NaiveDate) -> bool {
    on < plus_years(date_of_birth, rule.adult_age)
}

/// The first day on which the record may be purged.
pub fn retain_until(rule: &RetentionRule, date_of_birth: NaiveDate, last_activity: NaiveDate) -> NaiveDate {
    let after_activity = plus_years(last_activity, rule.years_after_last_activity);
    if child_at(rule, date_of_birth, last_activity) {
        after_activity.max(plus_years(date_of_birth, rule.child_until_age))
    } else {
        after_activity
    }
}

/// Whether the statuses still being worked on keep the record regardless of age.
pub fn in_progress(status: ReferralStatus) -> bool {
    matches!(status, ReferralStatus::Submitted | ReferralStatus::InReview | ReferralStatus::AwaitingInformation)
}

/// Whether a record has expired on `today` under `policy`.
pub fn is_expired(policy: &RetentionPolicy, facts: &RetentionFacts, today: NaiveDate) -> bool {
    if in_progress(facts.status) {
        return false;
    }
    let rule = policy.rule(RecordType::of(facts.status));
    today >= retain_until(rule, facts.date_of_birth, facts.last_activity)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).unwrap()
    }

    #[test]
    fn the_default_policy() {
        let p = RetentionPolicy::default();
        let adult = RetentionFacts { status: ReferralStatus::Closed, date_of_birth: d(1960, 5, 1), last_activity: d(2020, 3, 10) };
        assert!(!is_expired(&p, &adult, d(2028, 3, 9)));
        assert!(is_expired(&p, &adult, d(2028, 3, 10)));
        // A 10-year-old: kept until their 25th birthday (2035), later than 8 years (2028).
        let child = RetentionFacts { date_of_birth: d(2010, 7, 1), ..adult };
        assert!(!is_expired(&p, &child, d(2035, 6, 30)));
        assert!(is_expired(&p, &child, d(2035, 7, 1)));
        // A 17-year-old: 8 years after (2028) is later than the 25th birthday (2027).
        let teen = RetentionFacts { date_of_birth: d(2002, 6, 1), ..adult };
        assert_eq!(retain_until(&p.referral, teen.date_of_birth, teen.last_activity), d(2028, 3, 10));
        // Still being worked on: never.
        let open = RetentionFacts { status: ReferralStatus::InReview, ..adult };
        assert!(!is_expired(&p, &open, d(2100, 1, 1)));
        // Leap day.
        assert_eq!(retain_until(&p.referral, d(1950, 1, 1), d(2024, 2, 29)), d(2032, 2, 29));
        assert_eq!(plus_years(d(2024, 2, 29), 1), d(2025, 2, 28));
    }
}
