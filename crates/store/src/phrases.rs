//! Saved phrases: text a service's consultants insert into an outcome's management plan or
//! safety-netting (migration 0017). Each write goes with its audit entry in one transaction.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::codec::{parse_ts, ts, unique_violation};
use crate::{NewAuditEntry, Result, Store, StoreError};

/// One saved phrase.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct SavedPhrase {
    pub id: uuid::Uuid,
    pub service_id: String,
    /// `plan` (management plan) or `safety_net` (follow-up and safety-netting).
    pub kind: String,
    pub title: String,
    pub body: String,
    pub position: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

fn row(r: &AnyRow) -> Result<SavedPhrase> {
    Ok(SavedPhrase {
        id: uuid::Uuid::parse_str(r.get::<String, _>("id").as_str()).map_err(|e| StoreError::Corrupt(format!("saved phrase id: {e}")))?,
        service_id: r.get("service_id"),
        kind: r.get("kind"),
        title: r.get("title"),
        body: r.get("body"),
        position: r.get("position"),
        created_at: parse_ts(r.get::<String, _>("created_at").as_str())?,
        updated_at: parse_ts(r.get::<String, _>("updated_at").as_str())?,
    })
}

impl Store {
    /// The phrases of these services, by service, kind, position and title.
    pub async fn list_phrases(&self, service_ids: &[String]) -> Result<Vec<SavedPhrase>> {
        if service_ids.is_empty() {
            return Ok(Vec::new());
        }
        let marks: Vec<String> = (1..=service_ids.len()).map(|i| format!("${i}")).collect();
        let sql = format!(
            "SELECT * FROM saved_phrases WHERE service_id IN ({}) ORDER BY service_id, kind, position, title",
            marks.join(", ")
        );
        let mut q = sqlx::query(&sql);
        for s in service_ids {
            q = q.bind(s.clone());
        }
        q.fetch_all(&self.pool).await?.iter().map(row).collect()
    }

    pub async fn get_phrase(&self, id: uuid::Uuid) -> Result<SavedPhrase> {
        match sqlx::query("SELECT * FROM saved_phrases WHERE id = $1").bind(id.to_string()).fetch_optional(&self.pool).await? {
            Some(r) => row(&r),
            None => Err(StoreError::NotFound),
        }
    }

    /// Inserts or replaces (same id) a phrase, with its audit entry. A second phrase of the same
    /// title in the same service and kind is a `Conflict`.
    pub async fn save_phrase(&self, p: &SavedPhrase, updated_by: Option<uuid::Uuid>, audit: &NewAuditEntry) -> Result<()> {
        let mut w = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO saved_phrases (id, service_id, kind, title, body, position, created_at, updated_at, updated_by) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
             ON CONFLICT (id) DO UPDATE SET kind = excluded.kind, title = excluded.title, body = excluded.body, \
             position = excluded.position, updated_at = excluded.updated_at, updated_by = excluded.updated_by",
        )
        .bind(p.id.to_string())
        .bind(p.service_id.clone())
        .bind(p.kind.clone())
        .bind(p.title.clone())
        .bind(p.body.clone())
        .bind(p.position)
        .bind(ts(p.created_at))
        .bind(ts(p.updated_at))
        .bind(updated_by.map(|u| u.to_string()))
        .execute(&mut *w.tx)
        .await
        .map_err(|e| unique_violation(e, "a saved phrase with this title"))?;
        crate::audit::append_audit_in(&mut w, audit);
        w.commit().await
    }

    pub async fn delete_phrase(&self, id: uuid::Uuid, audit: &NewAuditEntry) -> Result<()> {
        let mut w = self.begin_write().await?;
        let done = sqlx::query("DELETE FROM saved_phrases WHERE id = $1").bind(id.to_string()).execute(&mut *w.tx).await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        crate::audit::append_audit_in(&mut w, audit);
        w.commit().await
    }

    /// Open referrals counted by service and status, within these services (the worklist's
    /// summary).
    pub async fn count_open_by_service(&self, service_ids: &[String]) -> Result<Vec<(String, telederm_domain::referral::ReferralStatus, i64)>> {
        if service_ids.is_empty() {
            return Ok(Vec::new());
        }
        let marks: Vec<String> = (1..=service_ids.len()).map(|i| format!("${i}")).collect();
        let sql = format!(
            "SELECT service_id, status, COUNT(*) AS n FROM referrals WHERE status IN ('submitted', 'in_review', 'awaiting_information') \
             AND service_id IN ({}) GROUP BY service_id, status ORDER BY service_id, status",
            marks.join(", ")
        );
        let mut q = sqlx::query(&sql);
        for s in service_ids {
            q = q.bind(s.clone());
        }
        q.fetch_all(&self.pool)
            .await?
            .iter()
            .map(|r| Ok((r.get("service_id"), crate::codec::parse_name(r.get::<String, _>("status").as_str())?, r.get("n"))))
            .collect()
    }
}
