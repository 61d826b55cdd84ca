//! Patients' feedback after the outcome: a Friends and Family Test rating and an optional comment,
//! one per referral, kept with the service it is about (admins see their services' feedback).

use chrono::{DateTime, Utc};
use sqlx::Row;
use sqlx::any::AnyRow;
use telederm_domain::ReferralId;
use telederm_domain::patient_voice::FeedbackRating;

use crate::audit::NewAuditEntry;
use crate::codec::{parse_ts, ts, unique_violation, uuid};
use crate::{Result, Store, StoreError};

/// One patient's feedback.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PatientFeedback {
    pub id: uuid::Uuid,
    pub referral_id: ReferralId,
    /// The link the patient gave it through.
    pub link_id: uuid::Uuid,
    pub service_id: String,
    pub rating: FeedbackRating,
    pub comment: String,
    pub created_at: DateTime<Utc>,
}

const COLUMNS: &str = "id, referral_id, link_id, service_id, rating, comment, created_at";

fn from_row(row: &AnyRow) -> Result<PatientFeedback> {
    let rating: String = row.get("rating");
    Ok(PatientFeedback {
        id: uuid(row.get::<String, _>("id").as_str())?,
        referral_id: uuid(row.get::<String, _>("referral_id").as_str())?,
        link_id: uuid(row.get::<String, _>("link_id").as_str())?,
        service_id: row.get("service_id"),
        rating: FeedbackRating::parse(&rating).ok_or_else(|| StoreError::Corrupt(format!("feedback rating {rating:?}")))?,
        comment: row.get("comment"),
        created_at: parse_ts(row.get::<String, _>("created_at").as_str())?,
    })
}

/// `service_id IN (...)` for these services, its placeholders numbered from `first`.
fn services_in(services: &[String], first: usize) -> String {
    if services.is_empty() {
        return "1 = 0".into();
    }
    let marks: Vec<String> = (0..services.len()).map(|i| format!("${}", first + i)).collect();
    format!("service_id IN ({})", marks.join(", "))
}

impl Store {
    /// Stores feedback with its audit entry, in one transaction; `Conflict` when the referral
    /// already has feedback.
    pub async fn insert_patient_feedback(&self, f: &PatientFeedback, audit: &NewAuditEntry) -> Result<()> {
        let mut w = self.begin_write().await?;
        sqlx::query(&format!("INSERT INTO patient_feedback ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7)"))
            .bind(f.id.to_string())
            .bind(f.referral_id.to_string())
            .bind(f.link_id.to_string())
            .bind(&f.service_id)
            .bind(f.rating.as_str())
            .bind(&f.comment)
            .bind(ts(f.created_at))
            .execute(&mut *w.tx)
            .await
            .map_err(|e| unique_violation(e, "feedback for this referral"))?;
        crate::audit::append_audit_in(&mut w, audit);
        w.commit().await
    }

    /// The feedback given about a referral, if any.
    pub async fn patient_feedback_for(&self, referral: ReferralId) -> Result<Option<PatientFeedback>> {
        let row = sqlx::query(&format!("SELECT {COLUMNS} FROM patient_feedback WHERE referral_id = $1"))
            .bind(referral.to_string())
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(from_row).transpose()
    }

    /// How many gave each rating, for these services.
    pub async fn count_patient_feedback(&self, services: &[String]) -> Result<Vec<(FeedbackRating, i64)>> {
        let sql = format!("SELECT rating, COUNT(*) AS n FROM patient_feedback WHERE {} GROUP BY rating", services_in(services, 1));
        let mut q = sqlx::query(&sql);
        for s in services {
            q = q.bind(s);
        }
        let rows = q.fetch_all(&self.pool).await?;
        let mut out = Vec::new();
        for r in &rows {
            let rating: String = r.get("rating");
            let rating = FeedbackRating::parse(&rating).ok_or_else(|| StoreError::Corrupt(format!("feedback rating {rating:?}")))?;
            out.push((rating, r.get::<i64, _>("n")));
        }
        Ok(out)
    }

    /// These services' feedback, newest first; only that with a comment when `with_comment`; at
    /// most `limit` when given.
    pub async fn list_patient_feedback(&self, services: &[String], with_comment: bool, limit: Option<i64>) -> Result<Vec<PatientFeedback>> {
        let mut sql = format!("SELECT {COLUMNS} FROM patient_feedback WHERE {}", services_in(services, 1));
        if with_comment {
            sql.push_str(" AND comment <> ''");
        }
        sql.push_str(" ORDER BY created_at DESC, id");
        if let Some(n) = limit {
            sql.push_str(&format!(" LIMIT {}", n.max(0)));
        }
        let mut q = sqlx::query(&sql);
        for s in services {
            q = q.bind(s);
        }
        q.fetch_all(&self.pool).await?.iter().map(from_row).collect()
    }
}
