//! Report facts (issue 17): one narrow row per received referral (`report_facts`, migration 0017),
//! rewritten in the transaction of every change to the referral or its photos, and the one
//! aggregate query the reports are made from.
//!
//! Why a facts table rather than aggregating `referrals` directly: the figures need values that
//! live in JSON (the patient's sex, age and ethnic category, a rejection's reason), in the photos'
//! quality reports (verdicts, issues, tone band) and in the event history (requests for
//! information). Reading those for a year of a region's referrals would mean decoding hundreds of
//! thousands of JSON documents per report. Written once per change (a few small statements in a
//! transaction that already writes several rows), they make every report a GROUP BY over an
//! index range of plain columns, on both databases, and leave the worklist's indexes alone.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, NaiveDate, Utc};
use sqlx::Row;
use telederm_domain::OrganisationId;
use telederm_domain::calendar::received_local_date;
use telederm_domain::outcome::RejectionReason;
use telederm_domain::referral::InformationTopic;
use telederm_domain::route::Route;
use telederm_domain::reports::{TONE_BANDS, age_band, referral_tone_band};

use crate::codec::{date, parse_date, parse_ts};

/// The calendar report facts count working days with: the shipped England and Wales bank
/// holidays, then the statutory rules. A bank holiday proclaimed after the build (loaded into a
/// node with `telederm calendar update`) is counted after `telederm report rebuild-facts`.
static CALENDAR: std::sync::LazyLock<telederm_domain::calendar::Calendar> = std::sync::LazyLock::new(telederm_domain::calendar::Calendar::builtin);
use crate::{Result, Store};

/// Rewrites one referral's facts from its stored row, events and photos (inside the caller's
/// write transaction). A referral not yet received (a draft) has none.
pub(crate) async fn refresh_report_facts(conn: &mut sqlx::AnyConnection, referral_id: &str) -> Result<()> {
    forget_report_facts(conn, referral_id).await?;
    let Some(row) = sqlx::query(
        "SELECT service_id, practice_id, route, status, submitted_at, due_date, outcome_json, patient_json
         FROM referrals WHERE id = $1",
    )
    .bind(referral_id)
    .fetch_optional(&mut *conn)
    .await?
    else {
        return Ok(());
    };
    let Some(submitted_at) = row.get::<Option<String>, _>("submitted_at") else { return Ok(()) };
    let submitted_on = received_local_date(parse_ts(&submitted_at)?);
    let outcome: Option<serde_json::Value> =
        row.get::<Option<String>, _>("outcome_json").as_deref().map(crate::codec::parse_json).transpose()?;
    let text = |v: Option<&serde_json::Value>| v.and_then(|v| v.as_str()).map(str::to_string);
    let outcome_code = text(outcome.as_ref().and_then(|o| o.get("code")));
    let rejection_reason = text(outcome.as_ref().and_then(|o| o.get("rejection_reason")));
    let answered_on = text(outcome.as_ref().and_then(|o| o.get("recorded_at")))
        .map(|t| parse_ts(&t).map(|t: DateTime<Utc>| received_local_date(t)))
        .transpose()?;
    let working_days = answered_on.map(|d| i64::from(CALENDAR.working_days_between(submitted_on, d)));
    let outcome_on = answered_on.map(date);
    let patient: serde_json::Value = crate::codec::parse_json(row.get::<String, _>("patient_json").as_str())?;
    let age = text(patient.get("date_of_birth"))
        .map(|d| parse_date(&d))
        .transpose()?
        .map(|dob| submitted_on.years_since(dob).unwrap_or(0))
        .unwrap_or(0);
    let sex = text(patient.get("sex")).unwrap_or_else(|| "unknown".into());

    let info_requested: i64 = sqlx::query(
        "SELECT COUNT(*) AS n FROM referral_events WHERE referral_id = $1 AND action = 'request_information'",
    )
    .bind(referral_id)
    .fetch_one(&mut *conn)
    .await?
    .get("n");

    let topics: BTreeSet<String> = sqlx::query(
        "SELECT topic FROM messages WHERE referral_id = $1 AND kind = 'information_request' AND topic IS NOT NULL",
    )
    .bind(referral_id)
    .fetch_all(&mut *conn)
    .await?
    .iter()
    .map(|r| r.get::<String, _>("topic"))
    .collect();

    let photos = sqlx::query("SELECT verdict, report_json FROM photos WHERE referral_id = $1")
        .bind(referral_id)
        .fetch_all(&mut *conn)
        .await?;
    let (mut accept, mut warn, mut reject) = (0i64, 0i64, 0i64);
    let mut issues = BTreeSet::new();
    let mut bands = Vec::new();
    for p in &photos {
        match p.get::<String, _>("verdict").as_str() {
            "accept" => accept += 1,
            "warn" => warn += 1,
            _ => reject += 1,
        }
        let report: serde_json::Value = serde_json::from_str(p.get::<String, _>("report_json").as_str()).unwrap_or_default();
        for issue in report.get("issues").and_then(|i| i.as_array()).into_iter().flatten() {
            if let Some(code) = issue.get("code").and_then(|c| c.as_str()) {
                issues.insert(code.to_string());
            }
        }
        if let Some(b) = report.get("skin_tone_band").and_then(|b| b.as_str()) {
            bands.push(b.to_string());
        }
    }
    let tone_band = referral_tone_band(bands.iter().map(String::as_str), &TONE_BANDS);

    sqlx::query(
        "INSERT INTO report_facts (referral_id, service_id, practice_id, route, status, submitted_on, due_date,
            outcome_code, rejection_reason, outcome_on, info_requested, photos_accept, photos_warn, photos_reject,
            photo_issues, tone_band, fitzpatrick, age_band, sex, ethnic_category, working_days, info_topics)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22)",
    )
    .bind(referral_id)
    .bind(row.get::<String, _>("service_id"))
    .bind(row.get::<String, _>("practice_id"))
    .bind(row.get::<String, _>("route"))
    .bind(row.get::<String, _>("status"))
    .bind(date(submitted_on))
    .bind(row.get::<Option<String>, _>("due_date"))
    .bind(outcome_code)
    .bind(rejection_reason)
    .bind(outcome_on)
    .bind(i64::from(info_requested > 0))
    .bind(accept)
    .bind(warn)
    .bind(reject)
    .bind(issues.into_iter().collect::<Vec<_>>().join(","))
    .bind(tone_band)
    .bind(text(patient.get("fitzpatrick_type")))
    .bind(age_band(age))
    .bind(sex)
    .bind(text(patient.get("ethnic_category")))
    .bind(working_days)
    .bind(topics.into_iter().collect::<Vec<_>>().join(","))
    .execute(&mut *conn)
    .await?;
    add_to_months(conn, referral_id, 1).await
}

/// Removes one referral's facts and takes them off its month's totals (inside the caller's write
/// transaction).
pub(crate) async fn forget_report_facts(conn: &mut sqlx::AnyConnection, referral_id: &str) -> Result<()> {
    add_to_months(conn, referral_id, -1).await?;
    sqlx::query("DELETE FROM report_facts WHERE referral_id = $1").bind(referral_id).execute(&mut *conn).await?;
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Month totals (migration 0024) for the practice-quality report

/// Working days to the answer up to this many have a column of their own in `report_months`
/// (`days_0` ...); the few answered later are counted from the facts.
pub const DAYS_COLUMNS: u32 = 20;

/// The photo-check issue codes `report_months` counts (`issue_<code>`): the imaging crate's
/// `IssueCode`s (a test in telederm-app keeps the two lists equal).
pub const PHOTO_ISSUES: [&str; 10] = [
    "blurred",
    "underexposed",
    "overexposed",
    "low_resolution",
    "unsupported_format",
    "corrupt",
    "dimensions_exceed_limit",
    "file_too_large",
    "no_skin_detected",
    "face_detected",
];

/// The topic counted for a return for information that named none.
pub const NO_TOPIC: &str = "not_given";

/// What a `report_months` column counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Counts {
    Referrals,
    Answered,
    Rejected,
    Managed,
    ManagedRemotely,
    InfoRequested,
    PhotosAccept,
    PhotosWarn,
    PhotosReject,
    Route(Route),
    Rejection(RejectionReason),
    Issue(&'static str),
    Topic(Option<InformationTopic>),
    Days(u32),
}

/// One column of `report_months`: its name and what one `report_facts` row adds to it (SQL).
struct Measure {
    column: String,
    per_fact: String,
    counts: Counts,
}

/// A `LIKE` pattern for one code in a comma-separated list, `_` matched as itself.
fn in_list(column: &str, code: &str) -> String {
    format!("(',' || {column} || ',') LIKE '%,{}%' ESCAPE '\\'", format!("{code},").replace('_', "\\_"))
}

/// Every column of `report_months` with what it counts: the one list the incremental updates,
/// the rebuild and the report's reads (of months and of facts) are all made from.
static MONTH_MEASURES: std::sync::LazyLock<Vec<Measure>> = std::sync::LazyLock::new(|| {
    let when = |c: String| format!("CASE WHEN {c} THEN 1 ELSE 0 END");
    let m = |column: &str, per_fact: &str, counts: Counts| Measure { column: column.to_string(), per_fact: per_fact.to_string(), counts };
    let mut all = vec![
        m("referrals", "1", Counts::Referrals),
        m("answered", &when("outcome_code IS NOT NULL".into()), Counts::Answered),
        m("rejected", &when("outcome_code = 'rejected'".into()), Counts::Rejected),
        m("managed", &when("outcome_code IS NOT NULL AND outcome_code <> 'rejected'".into()), Counts::Managed),
        m("managed_remotely", &when("outcome_code IN ('advice_management_plan', 'no_further_action')".into()), Counts::ManagedRemotely),
        m("info_requested", "info_requested", Counts::InfoRequested),
        m("photos_accept", "photos_accept", Counts::PhotosAccept),
        m("photos_warn", "photos_warn", Counts::PhotosWarn),
        m("photos_reject", "photos_reject", Counts::PhotosReject),
    ];
    for r in Route::ALL {
        all.push(m(&format!("route_{}", r.as_str()), &when(format!("route = '{}'", r.as_str())), Counts::Route(r)));
    }
    for r in RejectionReason::ALL {
        let c = format!("outcome_code = 'rejected' AND rejection_reason = '{}'", r.as_str());
        all.push(m(&format!("rejected_{}", r.as_str()), &when(c), Counts::Rejection(r)));
    }
    for code in PHOTO_ISSUES {
        all.push(m(&format!("issue_{code}"), &when(in_list("photo_issues", code)), Counts::Issue(code)));
    }
    for t in InformationTopic::ALL {
        let c = format!("info_requested = 1 AND {}", in_list("info_topics", t.as_str()));
        all.push(m(&format!("topic_{}", t.as_str()), &when(c), Counts::Topic(Some(t))));
    }
    all.push(m(&format!("topic_{NO_TOPIC}"), &when("info_requested = 1 AND info_topics = ''".into()), Counts::Topic(None)));
    for d in 0..=DAYS_COLUMNS {
        all.push(m(&format!("days_{d}"), &when(format!("working_days = {d}")), Counts::Days(d)));
    }
    all
});

/// Adds one referral's facts to its month's totals (`sign` 1), or takes them off (-1).
async fn add_to_months(conn: &mut sqlx::AnyConnection, referral_id: &str, sign: i64) -> Result<()> {
    static SQL: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
        let columns: Vec<&str> = MONTH_MEASURES.iter().map(|m| m.column.as_str()).collect();
        let values: Vec<String> = MONTH_MEASURES.iter().map(|m| format!("$2 * ({})", m.per_fact)).collect();
        let sums: Vec<String> = columns.iter().map(|c| format!("{c} = report_months.{c} + excluded.{c}")).collect();
        format!(
            "INSERT INTO report_months (service_id, month, practice_id, {})
             SELECT service_id, substr(submitted_on, 1, 7), practice_id, {} FROM report_facts WHERE referral_id = $1
             ON CONFLICT (service_id, month, practice_id) DO UPDATE SET {}",
            columns.join(", "),
            values.join(", "),
            sums.join(", ")
        )
    });
    sqlx::query(&SQL).bind(referral_id).bind(sign).execute(&mut *conn).await?;
    Ok(())
}

/// The practice-quality report's counts for one practice and service.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct QualityCounts {
    pub practice_id: String,
    pub service_id: String,
    pub referrals: i64,
    /// Answered: an outcome or a rejection recorded.
    pub answered: i64,
    pub rejected: i64,
    /// Answered otherwise than by rejection.
    pub managed: i64,
    /// Managed with advice or no further action (no face-to-face appointment).
    pub managed_remotely: i64,
    /// Referrals the consultant asked for more information at least once.
    pub info_requested: i64,
    pub photos_accept: i64,
    pub photos_warn: i64,
    pub photos_reject: i64,
    /// Referrals by route.
    pub by_route: BTreeMap<&'static str, i64>,
    /// Rejections by reason.
    pub rejections: BTreeMap<&'static str, i64>,
    /// Referrals with a photo that had each issue.
    pub photo_issues: BTreeMap<&'static str, i64>,
    /// Referrals asked for more information, by what was asked for ([`NO_TOPIC`]: not said).
    pub info_topics: BTreeMap<&'static str, i64>,
    /// Answered referrals by working days from receipt to answer.
    pub working_days: BTreeMap<u32, i64>,
}

impl QualityCounts {
    fn add(&mut self, counts: Counts, n: i64) {
        if n == 0 {
            return;
        }
        match counts {
            Counts::Referrals => self.referrals += n,
            Counts::Answered => self.answered += n,
            Counts::Rejected => self.rejected += n,
            Counts::Managed => self.managed += n,
            Counts::ManagedRemotely => self.managed_remotely += n,
            Counts::InfoRequested => self.info_requested += n,
            Counts::PhotosAccept => self.photos_accept += n,
            Counts::PhotosWarn => self.photos_warn += n,
            Counts::PhotosReject => self.photos_reject += n,
            Counts::Route(r) => *self.by_route.entry(r.as_str()).or_default() += n,
            Counts::Rejection(r) => *self.rejections.entry(r.as_str()).or_default() += n,
            Counts::Issue(code) => *self.photo_issues.entry(code).or_default() += n,
            Counts::Topic(t) => *self.info_topics.entry(t.map_or(NO_TOPIC, InformationTopic::as_str)).or_default() += n,
            Counts::Days(d) => *self.working_days.entry(d).or_default() += n,
        }
    }
}

/// A column of `report_facts` a report groups by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FactColumn {
    Practice,
    Service,
    Route,
    SubmittedOn,
    OutcomeCode,
    RejectionReason,
    OutcomeOn,
    /// Working days to the answer (as text; null while unanswered).
    WorkingDays,
    PhotoIssues,
    /// The topics of the referral's information requests (sorted, comma-separated).
    InfoTopics,
    ToneBand,
    Fitzpatrick,
    AgeBand,
    Sex,
    EthnicCategory,
}

impl FactColumn {
    fn sql(self) -> &'static str {
        match self {
            Self::Practice => "practice_id",
            Self::Service => "service_id",
            Self::Route => "route",
            Self::SubmittedOn => "submitted_on",
            Self::OutcomeCode => "outcome_code",
            Self::RejectionReason => "rejection_reason",
            Self::OutcomeOn => "outcome_on",
            Self::WorkingDays => "working_days",
            Self::PhotoIssues => "photo_issues",
            Self::InfoTopics => "info_topics",
            Self::ToneBand => "tone_band",
            Self::Fitzpatrick => "fitzpatrick",
            Self::AgeBand => "age_band",
            Self::Sex => "sex",
            Self::EthnicCategory => "ethnic_category",
        }
    }
}

/// Which referrals a report counts: received between `from` and `to` (inclusive, local dates),
/// to some services and optionally from one practice.
#[derive(Debug, Clone)]
pub struct FactScope {
    /// `None`: every service.
    pub services: Option<Vec<String>>,
    pub practice_id: Option<OrganisationId>,
    pub from: NaiveDate,
    pub to: NaiveDate,
    /// Open referrals due before this day count as breaches.
    pub today: NaiveDate,
}

/// One group's counts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FactGroup {
    /// The grouped columns' values, in the order asked for.
    pub keys: Vec<Option<String>>,
    pub referrals: i64,
    /// Answered: an outcome or a rejection recorded.
    pub answered: i64,
    pub rejected: i64,
    /// Answered otherwise than by rejection.
    pub managed: i64,
    /// Managed with advice or no further action (no face-to-face appointment).
    pub managed_remotely: i64,
    pub info_requested: i64,
    pub photos_accept: i64,
    pub photos_warn: i64,
    pub photos_reject: i64,
    /// Answered on or before the due date.
    pub within_target: i64,
    /// Answered after the due date, or still open with the due date passed.
    pub breached: i64,
}

impl Store {
    /// Counts of the referrals in `scope`, grouped by `group_by` (no columns: one group).
    pub async fn report_facts(&self, scope: &FactScope, group_by: &[FactColumn]) -> Result<Vec<FactGroup>> {
        if scope.services.as_ref().is_some_and(|s| s.is_empty()) {
            return Ok(Vec::new());
        }
        let cols: Vec<&str> = group_by.iter().map(|c| c.sql()).collect();
        let mut sql = String::from("SELECT ");
        for c in &cols {
            // Every key is read back as text.
            if *c == "working_days" {
                sql.push_str("CAST(working_days AS TEXT) AS working_days, ");
            } else {
                sql.push_str(c);
                sql.push_str(", ");
            }
        }
        sql.push_str(
            "COUNT(*) AS n,
             CAST(SUM(CASE WHEN outcome_code IS NOT NULL THEN 1 ELSE 0 END) AS BIGINT) AS answered,
             CAST(SUM(CASE WHEN outcome_code = 'rejected' THEN 1 ELSE 0 END) AS BIGINT) AS rejected,
             CAST(SUM(CASE WHEN outcome_code IS NOT NULL AND outcome_code <> 'rejected' THEN 1 ELSE 0 END) AS BIGINT) AS managed,
             CAST(SUM(CASE WHEN outcome_code IN ('advice_management_plan', 'no_further_action') THEN 1 ELSE 0 END) AS BIGINT) AS remote,
             CAST(SUM(info_requested) AS BIGINT) AS info,
             CAST(SUM(photos_accept) AS BIGINT) AS pa,
             CAST(SUM(photos_warn) AS BIGINT) AS pw,
             CAST(SUM(photos_reject) AS BIGINT) AS pr,
             CAST(SUM(CASE WHEN outcome_on IS NOT NULL AND due_date IS NOT NULL AND outcome_on <= due_date THEN 1 ELSE 0 END) AS BIGINT) AS within_target,
             CAST(SUM(CASE WHEN due_date IS NOT NULL AND ((outcome_on IS NOT NULL AND outcome_on > due_date)
                 OR (outcome_on IS NULL AND status IN ('submitted', 'in_review', 'awaiting_information') AND due_date < $3)) THEN 1 ELSE 0 END) AS BIGINT) AS breached
             FROM report_facts WHERE submitted_on >= $1 AND submitted_on <= $2",
        );
        let mut next = 4;
        if let Some(services) = &scope.services {
            let marks: Vec<String> = (0..services.len()).map(|i| format!("${}", next + i)).collect();
            sql.push_str(&format!(" AND service_id IN ({})", marks.join(", ")));
            next += services.len();
        }
        if scope.practice_id.is_some() {
            sql.push_str(&format!(" AND practice_id = ${next}"));
        }
        if !cols.is_empty() {
            sql.push_str(" GROUP BY ");
            sql.push_str(&cols.join(", "));
        }
        let mut q = sqlx::query(&sql).bind(date(scope.from)).bind(date(scope.to)).bind(date(scope.today));
        for s in scope.services.iter().flatten() {
            q = q.bind(s.as_str());
        }
        if let Some(p) = scope.practice_id {
            q = q.bind(p.to_string());
        }
        let rows = q.fetch_all(self.pool()).await?;
        let mut out = Vec::with_capacity(rows.len());
        for r in &rows {
            let n: i64 = r.get("n");
            if n == 0 {
                continue;
            }
            let sum = |c: &str| -> Result<i64> { Ok(r.try_get::<Option<i64>, _>(c)?.unwrap_or(0)) };
            out.push(FactGroup {
                keys: cols.iter().map(|c| r.try_get::<Option<String>, _>(*c)).collect::<Result<_, _>>()?,
                referrals: n,
                answered: sum("answered")?,
                rejected: sum("rejected")?,
                managed: sum("managed")?,
                managed_remotely: sum("remote")?,
                info_requested: sum("info")?,
                photos_accept: sum("pa")?,
                photos_warn: sum("pw")?,
                photos_reject: sum("pr")?,
                within_target: sum("within_target")?,
                breached: sum("breached")?,
            });
        }
        Ok(out)
    }

    /// The practice-quality report's counts of the referrals received from `from` to `to`
    /// (inclusive) by each practice, to each of `services` (`None`: every service). Whole months
    /// are read from their totals (`report_months`), the days before the first and after the last
    /// whole month from the facts, answers later than [`DAYS_COLUMNS`] working days from the
    /// facts too (their partial index), so the work grows with months and practices, not with
    /// referrals.
    pub async fn practice_quality_counts(&self, services: Option<&[String]>, from: NaiveDate, to: NaiveDate) -> Result<Vec<QualityCounts>> {
        use chrono::Datelike;
        if services.is_some_and(<[String]>::is_empty) || from > to {
            return Ok(Vec::new());
        }
        let month_start = |d: NaiveDate| d.with_day(1).unwrap_or(d);
        let first = if from.day() == 1 { from } else { month_start(from).checked_add_months(chrono::Months::new(1)).unwrap_or(from) };
        let next_after_to = to.succ_opt().unwrap_or(to);
        let end = if next_after_to.day() == 1 { next_after_to } else { month_start(to) };
        let mut from_facts = Vec::new();
        let mut out: BTreeMap<(String, String), QualityCounts> = BTreeMap::new();
        if first < end {
            let last_month = end.pred_opt().unwrap_or(end);
            let (sql, binds) = in_services(
                &format!(
                    "SELECT practice_id, service_id, {} FROM report_months WHERE month >= $1 AND month <= $2",
                    MONTH_MEASURES.iter().map(|m| format!("CAST(SUM({0}) AS BIGINT) AS {0}", m.column)).collect::<Vec<_>>().join(", ")
                ),
                3,
                services,
                " GROUP BY practice_id, service_id",
            );
            let q = sqlx::query(&sql).bind(first.format("%Y-%m").to_string()).bind(last_month.format("%Y-%m").to_string());
            add_rows(&mut out, binds.iter().fold(q, |q, s| q.bind(s.as_str())).fetch_all(self.pool()).await?)?;
            if from < first {
                from_facts.push((from, first.pred_opt().unwrap_or(first)));
            }
            if end <= to {
                from_facts.push((end, to));
            }
        } else {
            from_facts.push((from, to));
        }
        for (a, b) in from_facts {
            let (sql, binds) = in_services(
                &format!(
                    "SELECT practice_id, service_id, {} FROM report_facts WHERE submitted_on >= $1 AND submitted_on <= $2",
                    MONTH_MEASURES.iter().map(|m| format!("CAST(SUM({}) AS BIGINT) AS {}", m.per_fact, m.column)).collect::<Vec<_>>().join(", ")
                ),
                3,
                services,
                " GROUP BY practice_id, service_id",
            );
            let q = sqlx::query(&sql).bind(date(a)).bind(date(b));
            add_rows(&mut out, binds.iter().fold(q, |q, s| q.bind(s.as_str())).fetch_all(self.pool()).await?)?;
        }
        // Answers later than the columns go: each exactly, from the facts' partial index.
        let (sql, binds) = in_services(
            &format!(
                "SELECT practice_id, service_id, working_days, COUNT(*) AS n FROM report_facts
                 WHERE submitted_on >= $1 AND submitted_on <= $2 AND working_days > {DAYS_COLUMNS}"
            ),
            3,
            services,
            " GROUP BY practice_id, service_id, working_days",
        );
        let q = sqlx::query(&sql).bind(date(from)).bind(date(to));
        for r in binds.iter().fold(q, |q, s| q.bind(s.as_str())).fetch_all(self.pool()).await? {
            let key = (r.try_get::<String, _>("practice_id")?, r.try_get::<String, _>("service_id")?);
            let days = u32::try_from(r.try_get::<i64, _>("working_days")?).unwrap_or(u32::MAX);
            let counts = out.entry(key.clone()).or_insert_with(|| QualityCounts { practice_id: key.0, service_id: key.1, ..QualityCounts::default() });
            counts.add(Counts::Days(days), r.try_get("n")?);
        }
        Ok(out.into_values().filter(|c| c.referrals > 0).collect())
    }

    /// Recounts every month's totals from the facts (once after migration 0024, and after a bulk
    /// load that wrote facts directly). Returns how many month rows there are.
    pub async fn rebuild_report_months(&self) -> Result<u64> {
        let columns: Vec<&str> = MONTH_MEASURES.iter().map(|m| m.column.as_str()).collect();
        let sums: Vec<String> = MONTH_MEASURES.iter().map(|m| format!("CAST(SUM({}) AS BIGINT)", m.per_fact)).collect();
        let mut w = self.begin_write().await?;
        if self.dialect() == crate::Dialect::Postgres {
            // Writers keep the totals in step as they commit; they wait while the table is recounted.
            sqlx::query("LOCK TABLE report_months IN EXCLUSIVE MODE").execute(&mut *w.tx).await?;
        }
        sqlx::query("DELETE FROM report_months").execute(&mut *w.tx).await?;
        let n = sqlx::query(&format!(
            "INSERT INTO report_months (service_id, month, practice_id, {})
             SELECT service_id, substr(submitted_on, 1, 7), practice_id, {} FROM report_facts
             GROUP BY service_id, substr(submitted_on, 1, 7), practice_id",
            columns.join(", "),
            sums.join(", ")
        ))
        .execute(&mut *w.tx)
        .await?
        .rows_affected();
        w.commit().await?;
        Ok(n)
    }

    /// Rewrites the facts of every referral (after a bulk load that bypassed the use cases, or
    /// once after migration 0017 for referrals received before it). Returns how many referrals
    /// were read. Works in batches of 500 referrals, one transaction each.
    pub async fn rebuild_report_facts(&self) -> Result<u64> {
        let mut after = String::new();
        let mut done = 0u64;
        loop {
            let ids: Vec<String> = sqlx::query("SELECT id FROM referrals WHERE id > $1 ORDER BY id LIMIT 500")
                .bind(&after)
                .fetch_all(self.pool())
                .await?
                .iter()
                .map(|r| r.get("id"))
                .collect();
            let Some(last) = ids.last() else { break };
            after = last.clone();
            let mut w = self.begin_write().await?;
            for id in &ids {
                refresh_report_facts(&mut w.tx, id).await?;
            }
            w.commit().await?;
            done += ids.len() as u64;
        }
        Ok(done)
    }

    /// Fills the facts of referrals received before migration 0017, and the month totals of
    /// facts written before migration 0024, once each.
    pub(crate) async fn backfill_report_facts(&self) -> Result<()> {
        if let Some(read @ 1..) = self.once("report_facts_backfill", self.rebuild_report_facts()).await? {
            tracing::info!(referrals = read, "report facts filled in for referrals received before reports existed");
        }
        if let Some(months @ 1..) = self.once("report_months_backfill", self.rebuild_report_months()).await? {
            tracing::info!(months, "month totals of the practice-quality report counted from the report facts");
        }
        Ok(())
    }
}

/// `sql` with ` AND service_id IN (...)` for `services` (placeholders from `$next`), then `tail`;
/// and the values to bind after the query's own.
fn in_services(sql: &str, next: usize, services: Option<&[String]>, tail: &str) -> (String, Vec<String>) {
    let mut sql = sql.to_string();
    let binds: Vec<String> = services.map(<[String]>::to_vec).unwrap_or_default();
    if !binds.is_empty() {
        let marks: Vec<String> = (0..binds.len()).map(|i| format!("${}", next + i)).collect();
        sql.push_str(&format!(" AND service_id IN ({})", marks.join(", ")));
    }
    sql.push_str(tail);
    (sql, binds)
}

/// Adds rows of measure sums (named by column) to the counts by practice and service.
fn add_rows(out: &mut BTreeMap<(String, String), QualityCounts>, rows: Vec<sqlx::any::AnyRow>) -> Result<()> {
    for r in rows {
        let key = (r.try_get::<String, _>("practice_id")?, r.try_get::<String, _>("service_id")?);
        let counts = out.entry(key.clone()).or_insert_with(|| QualityCounts { practice_id: key.0, service_id: key.1, ..QualityCounts::default() });
        for m in MONTH_MEASURES.iter() {
            counts.add(m.counts, r.try_get::<Option<i64>, _>(m.column.as_str())?.unwrap_or(0));
        }
    }
    Ok(())
}
