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

use std::collections::BTreeSet;

use chrono::{DateTime, NaiveDate, Utc};
use sqlx::Row;
use telederm_domain::OrganisationId;
use telederm_domain::calendar::received_local_date;
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
    sqlx::query("DELETE FROM report_facts WHERE referral_id = $1").bind(referral_id).execute(&mut *conn).await?;
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
    Ok(())
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

    /// Fills the facts of referrals received before migration 0017, once.
    pub(crate) async fn backfill_report_facts(&self) -> Result<()> {
        let done: i64 = sqlx::query("SELECT done FROM report_facts_backfill").fetch_one(self.pool()).await?.get("done");
        if done != 0 {
            return Ok(());
        }
        let read = self.rebuild_report_facts().await?;
        sqlx::query("UPDATE report_facts_backfill SET done = 1").execute(self.pool()).await?;
        if read > 0 {
            tracing::info!(referrals = read, "report facts filled in for referrals received before reports existed");
        }
        Ok(())
    }
}
