//! Teaching cases (migration 0021): the de-identified case a consultant marked, one per referral.
//! Each write goes with its audit entry in one transaction.

use sqlx::Row;
use sqlx::any::AnyRow;
use telederm_domain::ReferralId;
use telederm_domain::teaching::TeachingCase;

use crate::codec::{ts, unique_violation};
use crate::{NewAuditEntry, Result, Store, StoreError};

fn case(r: &AnyRow) -> Result<TeachingCase> {
    serde_json::from_str(r.get::<String, _>("case_json").as_str()).map_err(|e| StoreError::Corrupt(format!("teaching case: {e}")))
}

impl Store {
    /// Saves a referral's teaching case with its audit entry. A referral that already is one is a
    /// `Conflict`.
    pub async fn save_teaching_case(&self, referral: ReferralId, marked_by: uuid::Uuid, c: &TeachingCase, audit: &NewAuditEntry) -> Result<()> {
        let json = serde_json::to_string(c).map_err(|e| StoreError::Corrupt(format!("teaching case: {e}")))?;
        let mut w = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO teaching_cases (id, referral_id, service_id, marked_by, marked_at, case_json) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(c.id.to_string())
        .bind(referral.to_string())
        .bind(c.service_id.clone())
        .bind(marked_by.to_string())
        .bind(ts(c.marked_at))
        .bind(json)
        .execute(&mut *w.tx)
        .await
        .map_err(|e| unique_violation(e, "a teaching case of this referral"))?;
        crate::audit::append_audit_in(&mut w, audit);
        w.commit().await
    }

    /// Removes a referral's teaching case with its audit entry (`NotFound` when it has none).
    pub async fn delete_teaching_case(&self, referral: ReferralId, audit: &NewAuditEntry) -> Result<()> {
        let mut w = self.begin_write().await?;
        let done = sqlx::query("DELETE FROM teaching_cases WHERE referral_id = $1").bind(referral.to_string()).execute(&mut *w.tx).await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        crate::audit::append_audit_in(&mut w, audit);
        w.commit().await
    }

    /// The teaching case made from this referral, if any.
    pub async fn teaching_case_of(&self, referral: ReferralId) -> Result<Option<TeachingCase>> {
        let row = sqlx::query("SELECT case_json FROM teaching_cases WHERE referral_id = $1")
            .bind(referral.to_string())
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(case).transpose()
    }

    /// A teaching case by its own id, with the referral it was made from (for its photos).
    pub async fn get_teaching_case(&self, id: uuid::Uuid) -> Result<(TeachingCase, ReferralId)> {
        let row = sqlx::query("SELECT referral_id, case_json FROM teaching_cases WHERE id = $1")
            .bind(id.to_string())
            .fetch_optional(&self.pool)
            .await?
            .ok_or(StoreError::NotFound)?;
        let referral = ReferralId::parse(row.get::<String, _>("referral_id").as_str())
            .ok_or_else(|| StoreError::Corrupt("teaching case: referral id".into()))?;
        Ok((case(&row)?, referral))
    }

    /// Teaching cases, newest first, at most `limit`.
    pub async fn list_teaching_cases(&self, limit: i64) -> Result<Vec<TeachingCase>> {
        sqlx::query("SELECT case_json FROM teaching_cases ORDER BY marked_at DESC, id LIMIT $1")
            .bind(limit)
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(case)
            .collect()
    }
}
